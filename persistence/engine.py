"""Engine and sessions: ``init_db``, ``get_session``, ``close_db``, as v4 bots call them.

Configured from ``DATABASE_URL``; a plain ``postgresql://`` URL gets the asyncpg driver, and no URL means
``sqlite+aiosqlite:///./hotstore.db``. ``init_db`` creates missing tables (as v4 did); production
deployments run ``hotstore db upgrade`` (Alembic) instead.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from persistence.models import Base

DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///./hotstore.db"

logger = logging.getLogger(__name__)

_engine: AsyncEngine | None = None
_sessionmaker: async_sessionmaker[AsyncSession] | None = None

# Hooks run after init_db / before close_db; the hotstore package registers the hot store here so that
# a v4 bot's start-up and shut-down code (init_db/close_db) also opens and flushes it.
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


def create_engine(url: str | None = None, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url`` with the settings hotstore relies on (foreign keys on SQLite, WAL)."""
    resolved = database_url(url)
    if resolved.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30})
    elif "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_async_engine(resolved, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def sessionmaker_for(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def init_db(url: str | None = None, *, create_tables: bool = True) -> AsyncEngine:
    """Open the process-wide engine (idempotent) and create missing tables; then run start-up hooks."""
    global _engine, _sessionmaker
    if _engine is None:
        _engine = create_engine(url)
        _sessionmaker = sessionmaker_for(_engine)
    if create_tables:
        await _prepare_schema(_engine)
    _load_hook_providers()
    for hook in list(_startup_hooks):
        await hook()
    return _engine


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
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)


def _load_hook_providers() -> None:
    # A v4 bot imports only ``persistence``; hotstore, when installed, registers its hooks on import.
    if importlib.util.find_spec("hotstore") is not None:
        importlib.import_module("hotstore.compat.lifecycle")


def get_engine() -> AsyncEngine:
    """The engine ``init_db`` opened (opened on first use with ``DATABASE_URL`` if ``init_db`` was not called)."""
    global _engine, _sessionmaker
    if _engine is None:
        _engine = create_engine()
        _sessionmaker = sessionmaker_for(_engine)
    return _engine


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
    """Run shut-down hooks (flush the hot store), then dispose of the engine."""
    global _engine, _sessionmaker
    for hook in list(_shutdown_hooks):
        await hook()
    if _engine is not None:
        await _engine.dispose()
    _engine = None
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
