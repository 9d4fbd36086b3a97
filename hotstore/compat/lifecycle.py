"""The process-wide hot store behind the v4 facade and v4's ``init_db``/``close_db``.

Importing this module registers three things (``persistence.engine.init_db`` imports it when hotstore is
installed, so a v4 bot that only calls ``from persistence import init_db`` gets them too):

- ``init_db()`` opens the hot store (on the engine ``init_db`` opened) and, unless
  ``HOTSTORE_EMBEDDED_WORKER=0``, starts the in-process worker (``hotstore.writebehind.embedded.EmbeddedWorker``:
  flush, board rebuild, idle sweep): v4 bots run no worker, so without it their data would never reach SQL.
  Several flushers are safe (invariant 3); deployments running ``hotstore worker`` may switch it off.
- ``close_db()`` stops that flusher, flushes everything still dirty, and closes the store.
- Deleting a ``User`` through an ORM session (v4's FAQ: ``await session.delete(user)``) also removes the
  user's hot state (user hash, sessions, dirty marks, board entries) once the transaction commits.

``workers`` is imported lazily inside functions: the package dependency is workers → hotstore → persistence.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session
from sqlalchemy.util import await_only

from hotstore.core import constants as c
from hotstore.core.keys import board_member, iso_week, session_member
from hotstore.core.settings import Settings
from hotstore.core.store import HotStore
from persistence import engine as sql
from persistence.models import Base, BotSession, User

_OFF = ("0", "false", "no", "off")
_SHUTDOWN_FLUSH_BUDGET_S = 30.0
_EVICT_INFO = "hotstore_evict"  # Session.info key: {telegram_id: [bot names]} of users deleted in this transaction

_store: HotStore | None = None
_loop: asyncio.AbstractEventLoop | None = None
_flusher: Any = None  # hotstore.writebehind.embedded.EmbeddedWorker (imported lazily)


def embedded_worker_enabled(env: dict[str, str] | None = None) -> bool:
    """Whether ``init_db`` starts the in-process flusher (``HOTSTORE_EMBEDDED_WORKER``, default on)."""
    value = (env if env is not None else os.environ).get(c.ENV_EMBEDDED_WORKER, "1")
    return value.strip().lower() not in _OFF


def current_store() -> HotStore | None:
    """The open process-wide store of the running event loop, or None."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return _store if _store is not None and _loop is loop else None


async def get_store() -> HotStore:
    """The process-wide store, opened on first use (settings from the environment, engine from ``persistence``)."""
    global _store, _loop
    store = current_store()
    if store is not None:
        return store
    # A store opened in another (finished) event loop cannot be used or closed from this one: forget it.
    settings = Settings.from_env()
    engine = sql.get_engine()
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    store = current_store()  # another task may have opened it while we awaited
    if store is None:
        store = await HotStore.open(settings, engine=engine)
        _store, _loop = store, asyncio.get_running_loop()
    return store


async def start() -> None:
    """``init_db`` hook: open the store and start the in-process flusher (unless switched off)."""
    global _flusher
    store = await get_store()
    if embedded_worker_enabled() and _flusher is None:
        from hotstore.writebehind.embedded import (
            EmbeddedWorker,  # lazy: workers depends on hotstore, not the other way round
        )

        worker = EmbeddedWorker(store.settings)  # flush, board rebuild and idle sweep, on arq, in-process
        await worker.__aenter__()
        _flusher = worker


async def shutdown() -> None:
    """``close_db`` hook: stop the flusher, flush what is still dirty, close the store."""
    global _store, _loop, _flusher
    flusher, _flusher = _flusher, None
    if flusher is not None:
        await flusher.__aexit__(None, None, None)  # runs the worker's final flush
    store = current_store()
    _store, _loop = None, None
    if store is None:
        return
    try:
        from hotstore.writebehind.flush import drain  # lazy: workers depends on hotstore, not the other way round

        await drain(store.redis, store.engine, store.settings, budget_s=_SHUTDOWN_FLUSH_BUDGET_S)
    finally:
        await store.close()


async def evict_users(store: HotStore, users: dict[int, Sequence[str]]) -> None:
    """Remove deleted users' hot state: user hash, sessions of ``bots``, dirty marks and board entries."""
    keys, settings = store.keys, store.settings
    today = datetime.now(UTC)
    weeks = {iso_week(today - timedelta(weeks=n)) for n in range(settings.weekly_board_weeks + 1)}
    async with store.redis.pipeline(transaction=True) as pipe:
        for telegram_id, bots in users.items():
            member = board_member(telegram_id)
            pipe.delete(keys.user(telegram_id), *(keys.session(bot, telegram_id) for bot in bots))
            pipe.zrem(keys.dirty_users, str(telegram_id))
            for bot in bots:
                pipe.zrem(keys.dirty_sessions, session_member(bot, telegram_id))
                pipe.zrem(keys.bot_board(bot), member)
            pipe.zrem(keys.global_board, member)
            for week in weeks:
                pipe.zrem(keys.weekly_board(week), member)
        await pipe.execute()


@event.listens_for(Session, "before_flush")
def _remember_deleted_users(session: Session, _context: Any, _instances: Any) -> None:
    deleted = [obj for obj in session.deleted if isinstance(obj, User)]
    if not deleted or current_store() is None:
        return
    pending: dict[int, list[str]] = session.info.setdefault(_EVICT_INFO, {})
    conn = session.connection()  # not session.execute: that would autoflush inside this flush
    for user in deleted:
        bots = conn.execute(select(BotSession.bot_name).where(BotSession.user_id == user.id)).scalars()
        pending[int(user.telegram_id)] = list(bots)


@event.listens_for(Session, "after_commit")
def _evict_deleted_users(session: Session) -> None:
    pending = session.info.pop(_EVICT_INFO, None)
    store = current_store()
    if pending and store is not None:
        await_only(evict_users(store, pending))  # AsyncSession runs this hook inside its greenlet


@event.listens_for(Session, "after_rollback")
def _forget_deleted_users(session: Session) -> None:
    session.info.pop(_EVICT_INFO, None)


sql.on_init(start)
sql.on_close(shutdown)
