"""What an SQL failure means: a value SQL refuses (one row's fault) or SQL out of reach (everyone's).

SQLAlchemy does not say it by class alone. The asyncpg dialect maps only integrity errors to
:class:`~sqlalchemy.exc.IntegrityError`; its data errors (``UntranslatableCharacterError`` for a NUL in JSONB,
value too long, numeric out of range), "too many clients" and "connection was closed in the middle of
operation" all arrive as a plain :class:`~sqlalchemy.exc.DBAPIError` whose ``.orig`` carries the SQLSTATE. So
the SQLSTATE class decides first, the SQLAlchemy class second:

- ``22`` data exception, ``23`` integrity constraint violation: :func:`refused_by_sql` (the row is at fault);
- ``08`` connection exception, ``53`` insufficient resources, ``57`` operator intervention, a pool timeout,
  a disconnect, ``OperationalError``/``InterfaceError``/``OSError``: :func:`sql_unreachable`.

Example::

    try:
        await write(rows)
    except Exception as exc:
        if refused_by_sql(exc): isolate_the_row()
        elif sql_unreachable(exc): back_off()
        else: raise
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    StatementError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from hotstore.core.errors import StoreUnavailable

REFUSAL_CLASSES = frozenset({"22", "23"})
OUTAGE_CLASSES = frozenset({"08", "53", "57"})
_CHAIN_LIMIT = 8  # how far to follow .orig / __cause__ looking for a SQLSTATE


def sqlstate_of(exc: BaseException) -> str | None:
    """The five-character SQLSTATE of ``exc`` or of the driver error it wraps, if any."""
    for inner in _chain(exc):
        for name in ("sqlstate", "pgcode"):
            code = getattr(inner, name, None)
            if isinstance(code, str) and len(code) == 5:
                return code
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps (``.orig``, then ``__cause__``), nearest first."""
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < _CHAIN_LIMIT:
        chain.append(seen)
        orig = getattr(seen, "orig", None)
        seen = orig if isinstance(orig, BaseException) else seen.__cause__
    return chain


def refused_by_sql(exc: BaseException) -> bool:
    """SQL refused a value or a constraint (SQLSTATE class 22 or 23, or a value that cannot be bound)."""
    state = sqlstate_of(exc)
    if state is not None:
        return state[:2] in REFUSAL_CLASSES
    if any(isinstance(inner, ValueError) for inner in _chain(exc)):
        return True  # the driver could not encode a parameter (asyncpg's client-side DataError is a ValueError)
    if isinstance(exc, IntegrityError | DataError):
        return True
    return isinstance(exc, StatementError) and not isinstance(exc, DBAPIError)  # e.g. a value that cannot bind


def sql_unreachable(exc: BaseException) -> bool:
    """SQL cannot be reached or cannot take the work now: connection lost or refused, too many clients, pool
    exhausted, server shutting down."""
    state = sqlstate_of(exc)
    if state is not None:
        return state[:2] in OUTAGE_CLASSES
    if refused_by_sql(exc):
        return False
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout | OSError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


@asynccontextmanager
async def sql_reachable() -> AsyncIterator[None]:
    """Re-raise an unreachable SQL database as :class:`StoreUnavailable`; anything else passes unchanged."""
    try:
        yield
    except StoreUnavailable:
        raise
    except Exception as exc:
        if sql_unreachable(exc):
            raise StoreUnavailable(f"SQL database unavailable: {type(exc).__name__}: {exc}") from exc
        raise
