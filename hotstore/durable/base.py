"""What every durable-domain service shares: the store, one SQL transaction per call, error translation.

Repositories (``persistence.repositories``) raise their own errors, since persistence knows nothing of
hotstore; a service translates them into :mod:`hotstore.core.errors` so callers catch one hierarchy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotstore.core.errors import (
    HotstoreError,
    InvalidInput,
    InvalidTransition,
    NotFound,
    PromocodeRejected,
    StoreUnavailable,
)
from hotstore.core.sql_errors import refused_by_sql, sql_unreachable
from persistence.clock import Clock, utc_now
from persistence.repositories.payments import InvalidPaymentTransition
from persistence.repositories.promocodes import PromocodeError

if TYPE_CHECKING:
    from hotstore.core.store import HotStore


@asynccontextmanager
async def translated_errors() -> AsyncIterator[None]:
    """Re-raise what the repositories and the driver raise as :mod:`hotstore.core.errors` (one hierarchy to catch).

    SQL out of reach (connection refused or lost, too many clients, pool exhausted: :func:`sql_unreachable`) is
    :class:`StoreUnavailable`; a value SQL refuses (SQLSTATE class 22/23) that got past the checks is
    :class:`InvalidInput` (the transaction is rolled back: nothing changed).
    """
    try:
        yield
    except HotstoreError:
        raise
    except PromocodeError as exc:
        raise PromocodeRejected(exc.code, exc.reason) from exc
    except InvalidPaymentTransition as exc:
        raise InvalidTransition(str(exc)) from exc
    except LookupError as exc:
        raise NotFound(str(exc)) from exc
    except Exception as exc:
        if sql_unreachable(exc):
            raise StoreUnavailable(f"SQL database unavailable: {exc}") from exc
        if isinstance(exc, ValueError) or (isinstance(exc, DBAPIError) and refused_by_sql(exc)):
            raise InvalidInput(f"SQL refused the value: {exc}" if isinstance(exc, DBAPIError) else str(exc)) from exc
        raise


class DomainService:
    """Base of the durable services: ``Service(store)``, each call its own transaction."""

    def __init__(self, store: HotStore, *, now: Clock | None = None) -> None:
        self.store = store
        self.now: Clock = now or utc_now
        self._sessions = async_sessionmaker(store.engine, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One SQL transaction: committed on success, rolled back (nothing changed) on any error."""
        async with translated_errors(), self._sessions.begin() as session:
            yield session
