"""Engine and sessions: ``init_db``, ``get_session``, ``close_db``, as v4 bots call them.

Configured from ``DATABASE_URL``; a plain ``postgresql://`` URL gets the asyncpg driver, and no URL means
``sqlite+aiosqlite:///./hotstore.db``. ``init_db`` creates missing tables (as v4 did); production
deployments run ``hotstore db upgrade`` (Alembic) instead.

This layer knows nothing above it. A layer above that must take part in ``init_db``/``close_db`` (the hot store
of a v4 bot) registers itself with :func:`on_init`/:func:`on_close`, and one that must see ORM sessions gives
its own ``Session`` class with :func:`use_session_class`. The process-wide engine follows the running event
loop: a driver connection belongs to the loop that opened it, so a new loop gets a new engine.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from persistence.models import Base

DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///./hotstore.db"

# The SQL connection settings, read here from the environment (this layer imports nothing above it);
# the layers above re-export these names and pass their own values as keyword arguments.
ENV_SQL_TIMEOUT = "HOTSTORE_SQL_TIMEOUT"  # seconds: connect, statement, pool checkout; SQLite's busy timeout
ENV_SQL_POOL_SIZE = "HOTSTORE_SQL_POOL_SIZE"  # connections kept open per engine (PostgreSQL)
ENV_SQL_MAX_OVERFLOW = "HOTSTORE_SQL_MAX_OVERFLOW"  # extra connections opened under load beyond the pool
DEFAULT_SQL_TIMEOUT_S = 10.0
DEFAULT_SQL_POOL_SIZE = 10
DEFAULT_SQL_MAX_OVERFLOW = 20

logger = logging.getLogger(__name__)

_engine: AsyncEngine | None = None
_engine_loop: asyncio.AbstractEventLoop | None = None
_engine_url: str | None = None
_sessionmaker: async_sessionmaker[AsyncSession] | None = None
_session_class: type[Session] = Session

# Hooks run after init_db / before close_db, registered from above (the hot store of a v4 bot).
_startup_hooks: list[Callable[[], Awaitable[None]]] = []
_shutdown_hooks: list[Callable[[], Awaitable[None]]] = []


def database_url(url: str | None = None) -> str:
    """The async URL to use: ``url``, else ``DATABASE_URL``, else the SQLite default; drivers added."""
    raw = url if url else os.environ.get("DATABASE_URL")
    if not raw:
        return DEFAULT_SQLITE_URL
    for plain in ("postgres://", "postgresql://"):
        if raw.startswith(plain):
            return "postgresql+asyncpg://" + raw[len(plain) :]
    if raw.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + raw[len("sqlite://") :]
    return raw


def env_number(name: str, default: float, kind: type[float] | type[int] = float, *, allow_zero: bool = False) -> Any:
    """A positive number (or zero, if ``allow_zero``) from the environment variable ``name``; ``default`` when
    unset; ValueError for anything else."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = -1
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} number: {raw!r}")
    return value


def create_engine(
    url: str | None = None,
    *,
    timeout: float | None = None,
    pool_size: int | None = None,
    max_overflow: int | None = None,
    long_statements: bool = False,
    **kwargs: Any,
) -> AsyncEngine:
    """An async engine for ``url`` with the settings hotstore relies on (foreign keys on SQLite, WAL).

    ``timeout`` (seconds; default ``HOTSTORE_SQL_TIMEOUT``) bounds a connect, a statement and a pool checkout on
    PostgreSQL, so a stalled server gives an error instead of a hang; on SQLite it is the busy timeout.
    ``pool_size``/``max_overflow`` default to ``HOTSTORE_SQL_POOL_SIZE``/``HOTSTORE_SQL_MAX_OVERFLOW``.
    ``long_statements`` (schema upgrades) leaves statements unbounded; the connect stays bounded.
    """
    resolved = database_url(url)
    seconds = float(timeout if timeout is not None else env_number(ENV_SQL_TIMEOUT, DEFAULT_SQL_TIMEOUT_S))
    if resolved.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": seconds})
    else:
        if resolved.startswith("postgresql+asyncpg"):
            bounds = {"timeout": seconds, "command_timeout": None if long_statements else seconds}
            kwargs["connect_args"] = {**bounds, **kwargs.get("connect_args", {})}
        if "poolclass" not in kwargs:
            kwargs.setdefault("pool_size", pool_size or env_number(ENV_SQL_POOL_SIZE, DEFAULT_SQL_POOL_SIZE, int))
            kwargs.setdefault("max_overflow", max_overflow if max_overflow is not None else env_number(
                ENV_SQL_MAX_OVERFLOW, DEFAULT_SQL_MAX_OVERFLOW, int, allow_zero=True))
            kwargs.setdefault("pool_timeout", seconds)
            kwargs.setdefault("pool_pre_ping", True)
    engine = create_async_engine(resolved, **kwargs)
    if engine.dialect.name == "sqlite":
        busy_ms = int(seconds * 1000)
        event.listen(engine.sync_engine, "connect", lambda conn, record: _sqlite_pragmas(conn, busy_ms))
    return engine


def _sqlite_pragmas(dbapi_connection: Any, busy_ms: int) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
    cursor.close()


def sessionmaker_for(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=_session_class)


def use_session_class(session_class: type[Session]) -> None:
    """The sync ``Session`` class behind :func:`get_session`'s sessions: a subclass carrying its own ORM event
    listeners, so that no listener sits on SQLAlchemy's global ``Session``."""
    global _session_class, _sessionmaker
    _session_class = session_class
    if _engine is not None:
        _sessionmaker = sessionmaker_for(_engine)


async def create_tables(engine: AsyncEngine) -> None:
    """Create missing tables from the models; a second try absorbs another process creating them at once."""
    for attempt in (1, 2):
        try:
            async with engine.begin() as conn:
                await conn.run_sync(Base.metadata.create_all)
            return
        except DBAPIError:
            if attempt == 2:
                raise


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _drop(engine: AsyncEngine, loop: asyncio.AbstractEventLoop | None) -> bool:
    """Forget an engine of a finished event loop without touching its connections (they belong to that loop).
    True when it was dropped that way, False when it belongs to the running loop and may be disposed."""
    if loop is None or loop is _running_loop():
        return False
    engine.sync_engine.dispose(close=False)
    return True


def _process_engine(url: str | None) -> AsyncEngine:
    global _engine, _engine_loop, _engine_url, _sessionmaker
    if _engine is not None and _drop(_engine, _engine_loop):
        url = url or _engine_url
        _engine = None
    if _engine is None:
        _engine_url = url
        _engine = create_engine(url)
        _engine_loop = _running_loop()
        _sessionmaker = sessionmaker_for(_engine)
    return _engine


async def init_db(url: str | None = None, *, create_tables: bool = True) -> AsyncEngine:
    """Open the process-wide engine (idempotent within one event loop) and create missing tables; then run the
    start-up hooks."""
    engine = _process_engine(url)
    if create_tables:
        await _prepare_schema(engine)
    for hook in list(_startup_hooks):
        await hook()
    return engine


async def _prepare_schema(engine: AsyncEngine) -> None:
    """Create missing tables, as v4's ``init_db`` did; but a database made by v4 or by an older hotstore
    (stamped by Alembic or not) is upgraded to this version's schema first.

    ``create_all`` alone would leave a v4 schema (int32 ids, no unique keys) in place, and a v4 bot that
    switched its imports would then fail on the first write. Migrations run on their own engine because
    SQLite's upgrade switches foreign keys off for its connection.
    """
    from persistence import migrate  # migrate imports this module

    async with engine.connect() as conn:
        made_by = await conn.run_sync(migrate.schema_behind)
    if made_by is not None:
        logger.warning("init_db: the database was made by %s; upgrading its schema (hotstore db upgrade)", made_by)
        await migrate.upgrade(engine.url.render_as_string(hide_password=False))
    await create_tables(engine)


def get_engine() -> AsyncEngine:
    """The engine ``init_db`` opened (opened on first use with ``DATABASE_URL`` if ``init_db`` was not called,
    and again in a new event loop)."""
    return _process_engine(None)


@asynccontextmanager
async def get_session() -> AsyncIterator[AsyncSession]:
    """``async with get_session() as s:`` — commits on success, rolls back and re-raises on error."""
    get_engine()
    assert _sessionmaker is not None
    async with _sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


async def close_db() -> None:
    """Run the shut-down hooks (flush the hot store), then dispose of the engine."""
    global _engine, _engine_loop, _sessionmaker
    for hook in list(_shutdown_hooks):
        await hook()
    if _engine is not None and not _drop(_engine, _engine_loop):
        await _engine.dispose()
    _engine = None
    _engine_loop = None
    _sessionmaker = None


def on_init(hook: Callable[[], Awaitable[None]]) -> None:
    """Register a coroutine run at the end of every ``init_db``."""
    if hook not in _startup_hooks:
        _startup_hooks.append(hook)


def on_close(hook: Callable[[], Awaitable[None]]) -> None:
    """Register a coroutine run at the start of ``close_db``."""
    if hook not in _shutdown_hooks:
        _shutdown_hooks.append(hook)


def clear_hooks() -> None:
    _startup_hooks.clear()
    _shutdown_hooks.clear()
