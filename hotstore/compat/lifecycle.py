"""The process-wide hot store behind the v4 facade, and what v4's ``init_db``/``close_db`` do with it.

:func:`install` (run when :mod:`hotstore.compat` is imported) registers three things with :mod:`persistence`,
from above, so that a v4 bot's own start-up and shut-down code drives the hot store:

- ``init_db()`` opens the hot store (on the engine ``init_db`` opened) and, unless
  ``HOTSTORE_EMBEDDED_WORKER=0``, starts the in-process flusher
  (:class:`~hotstore.writebehind.flusher.InProcessFlusher`: flush, board rebuild, idle sweep): v4 bots run no
  worker, so without it their data would never reach SQL. Several flushers are safe (invariant 3).
- ``close_db()`` stops that flusher, flushes everything still dirty, and closes the store.
- ORM sessions of ``persistence.get_session()`` are :class:`HotSession`: deleting a ``User`` through one (v4's
  FAQ: ``await session.delete(user)``) also removes the user's hot state once the transaction commits. The
  listeners sit on that subclass only, never on SQLAlchemy's global ``Session``.

The store and the flusher follow the running event loop. A client or task of a finished loop cannot be used
from another, so the first use in a new loop drops them (the data stays in Redis, dirty) and opens new ones; a
flusher asked for by ``init_db`` is started again in the new loop. With the embedded fakeredis the hot state
lives in this process only, so an interpreter exit without ``close_db()`` still drains it to SQL, with a warning.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session
from sqlalchemy.util import await_only

from hotstore.core.settings import ENV_EMBEDDED_WORKER, Settings
from hotstore.core.sql_errors import sql_reachable
from hotstore.core.store import HotStore
from hotstore.durable.deletion import evict_hot_state
from hotstore.writebehind.flusher import InProcessFlusher
from hotstore.writebehind.runner import WriteBehind
from persistence import engine as sql
from persistence.models import BotSession, User

log = logging.getLogger("hotstore.compat")

_OFF = ("0", "false", "no", "off")
_EVICT_INFO = "hotstore_evict"  # Session.info key: {telegram_id: [bot names]} of users deleted in this transaction


@dataclass
class _Process:
    """The process-wide store of one event loop, and its in-process flusher."""

    loop: asyncio.AbstractEventLoop
    store: HotStore
    flusher: InProcessFlusher | None = None


_current: _Process | None = None
_flusher_wanted = False  # init_db asked for the in-process flusher and close_db has not run since
_exit_drain_settings: Settings | None = None  # embedded store in use: drain at interpreter exit if not closed


def embedded_worker_enabled(env: Mapping[str, str] | None = None) -> bool:
    """Whether ``init_db`` starts the in-process flusher (``HOTSTORE_EMBEDDED_WORKER``, default on)."""
    value = (env if env is not None else os.environ).get(ENV_EMBEDDED_WORKER, "1")
    return value.strip().lower() not in _OFF


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def current_store() -> HotStore | None:
    """The open process-wide store of the running event loop, or None."""
    current = _current
    return current.store if current is not None and current.loop is _running_loop() else None


async def get_store() -> HotStore:
    """The process-wide store of the running loop, opened on first use (settings from the environment, engine
    from :mod:`persistence`); in a loop other than the one it was opened in, a new one."""
    global _current, _exit_drain_settings
    store = current_store()
    if store is not None:
        return store
    _current = None  # a store of a finished loop: its clients belong to that loop; its data stays in Redis
    settings = Settings.from_env()
    engine = sql.get_engine()
    async with sql_reachable():
        await sql.create_tables(engine)
    store = current_store()  # another task may have opened it while we awaited
    if store is not None:
        return store
    store = await HotStore.open(settings, engine=engine)
    _current = _Process(asyncio.get_running_loop(), store)
    if settings.embedded_redis and _exit_drain_settings is None:
        _exit_drain_settings = settings
        atexit.register(_drain_at_exit)
    if _flusher_wanted:
        await _start_flusher(_current)
    return store


async def _start_flusher(process: _Process) -> None:
    if process.flusher is None:
        process.flusher = InProcessFlusher(process.store.settings, redis=process.store.redis,
                                           engine=process.store.engine)
        await process.flusher.start()


async def start() -> None:
    """``init_db`` hook: open the store and start the in-process flusher (unless switched off)."""
    global _flusher_wanted
    _flusher_wanted = embedded_worker_enabled()
    await get_store()
    if _flusher_wanted and _current is not None:
        await _start_flusher(_current)


async def shutdown() -> None:
    """``close_db`` hook: stop the flusher, flush what is still dirty, close the store."""
    global _current, _flusher_wanted, _exit_drain_settings
    _flusher_wanted = False
    store = await get_store()  # in a new loop: a fresh store on the same Redis, so the drain below still runs
    process, _current = _current, None
    try:
        totals = None
        if process is not None and process.flusher is not None:
            totals = await process.flusher.stop()  # runs the final flush
        if totals is None or totals.remaining:  # no flusher in this loop, or its final flush left something
            totals = await WriteBehind.open(store.settings, redis=store.redis, engine=store.engine).final_flush()
        if totals is not None and totals.remaining == 0:
            _exit_drain_settings = None  # nothing left for the exit drain to do
    finally:
        await store.close()


def _drain_at_exit() -> None:
    """At interpreter exit: flush what an embedded store left dirty because ``close_db()`` was not called."""
    settings = _exit_drain_settings
    if settings is None:
        return

    async def drain() -> int:
        cycle = WriteBehind.open(settings)
        try:
            status = await cycle.status()
            dirty = int(status["dirty_users"]) + int(status["dirty_sessions"])
            if dirty:
                log.warning("close_db() was not called: flushing %d dirty entities of the embedded store at exit",
                            dirty)
                await cycle.final_flush()
            return dirty
        finally:
            await cycle.close()

    try:
        asyncio.run(drain())
    except Exception as exc:  # at exit there is no one left to raise to
        log.error("exit flush of the embedded store failed: %s: %s", type(exc).__name__, exc)


async def evict_users(store: HotStore, users: Mapping[int, Sequence[str]]) -> None:
    """Remove deleted users' hot state: user hash, sessions of their bots, dirty marks and board entries."""
    for telegram_id, bots in users.items():
        await evict_hot_state(store, telegram_id, bots)


class HotSession(Session):
    """The ORM session of ``persistence.get_session()`` once hotstore is installed: deleting a ``User`` also
    evicts the user's hot state after the commit."""


@event.listens_for(HotSession, "before_flush")
def _remember_deleted_users(session: Session, _context: Any, _instances: Any) -> None:
    deleted = [obj for obj in session.deleted if isinstance(obj, User)]
    if not deleted or current_store() is None:
        return
    pending: dict[int, list[str]] = session.info.setdefault(_EVICT_INFO, {})
    conn = session.connection()  # not session.execute: that would autoflush inside this flush
    for user in deleted:
        bots = conn.execute(select(BotSession.bot_name).where(BotSession.user_id == user.id)).scalars()
        pending[int(user.telegram_id)] = list(bots)


@event.listens_for(HotSession, "after_commit")
def _evict_deleted_users(session: Session) -> None:
    pending = session.info.pop(_EVICT_INFO, None)
    store = current_store()
    if pending and store is not None:
        await_only(evict_users(store, pending))  # AsyncSession runs this hook inside its greenlet


@event.listens_for(HotSession, "after_rollback")
def _forget_deleted_users(session: Session) -> None:
    session.info.pop(_EVICT_INFO, None)


def install() -> None:
    """Register the hot store's ``init_db``/``close_db`` hooks and ORM session class with :mod:`persistence`."""
    sql.on_init(start)
    sql.on_close(shutdown)
    sql.use_session_class(HotSession)
