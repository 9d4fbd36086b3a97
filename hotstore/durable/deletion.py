"""Deleting a user: every SQL row (``ON DELETE CASCADE``) and every Redis key and board entry of theirs.

Order: Redis, then SQL, then Redis again. The first pass removes the dirty marks, so no new flush can write
the user back; the SQL delete then removes whatever an in-flight flush wrote before it; the second pass
removes a hash a concurrent read-through may have loaded from SQL in between. A flush that read the user
before the first pass and commits after the SQL delete can still recreate the row: the residual window is
one flush batch, and deleting again removes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from hotstore.core.keys import board_member, iso_week, parse_session_member, session_member
from hotstore.core.legacy_layout import SESSION, USER, legacy_dirty_sets, legacy_key
from hotstore.core.legacy_layout import Entity as LegacyEntity
from hotstore.core.redis_client import reachable
from hotstore.core.scripts import DELETE_USER, LEGACY_FORGET
from hotstore.core.validation import check_telegram_id
from persistence.clock import utc_now
from persistence.models import BotSession, User

if TYPE_CHECKING:
    from hotstore.core.store import HotStore


async def _bot_names(store: HotStore, telegram_id: int) -> list[str]:
    """Bots the user has a session in: from SQL rows and from the dirty-sessions set (not yet flushed)."""
    sessions = async_sessionmaker(store.engine, expire_on_commit=False)
    async with sessions() as session:
        stmt = select(BotSession.bot_name).join(User, User.id == BotSession.user_id)
        rows = await session.execute(stmt.where(User.telegram_id == telegram_id))
        names = {str(name) for name in rows.scalars().all()}
    async with reachable():
        dirty_sessions = store.keys.session_dirty_set(telegram_id)
        async for member, _ in store.redis.zscan_iter(dirty_sessions, match=f"*:{telegram_id}"):
            bot_name, member_id = parse_session_member(member)
            if member_id == telegram_id:
                names.add(bot_name)
        if not store.legacy.done:  # sessions still dirty in the single-tag layout (being upgraded)
            async for member, _ in store.redis.zscan_iter(store.legacy.legacy.dirty_sessions,
                                                          match=f"*:{telegram_id}"):
                bot_name, member_id = parse_session_member(member)
                if member_id == telegram_id:
                    names.add(bot_name)
    return sorted(names)


async def evict_hot_state(store: HotStore, telegram_id: int, bots: Sequence[str]) -> int:
    """Remove a user's hot state: user hash, the sessions of ``bots`` and the dirty marks in one script on the
    user's shard, then every board entry (global, per bot, the weekly boards still kept; each board its own slot).
    The one eviction of a deleted user."""
    keys = store.keys
    today = utc_now()
    weeks = {iso_week(today - timedelta(weeks=i)) for i in range(store.settings.weekly_board_weeks + 1)}
    script_keys = [keys.user(telegram_id), keys.user_dirty_set(telegram_id), keys.session_dirty_set(telegram_id)]
    script_keys += [keys.session(bot, telegram_id) for bot in bots]
    args: list[str | int] = [telegram_id, len(bots)]
    args += [session_member(bot, telegram_id) for bot in bots]
    removed = int(await store.scripts.call(DELETE_USER, script_keys, args))
    if not store.legacy.done:  # a single-tag copy left behind would be adopted again: the user would come back
        legacy = store.legacy.legacy
        entities = [LegacyEntity(USER, str(telegram_id))]
        entities += [LegacyEntity(SESSION, session_member(bot, telegram_id)) for bot in bots]
        forget_args = [part for entity in entities for part in (entity.kind, entity.member)]
        removed += int(await store.scripts.call(
            LEGACY_FORGET, [*legacy_dirty_sets(legacy), *(legacy_key(legacy, e) for e in entities)], forget_args))
    boards = [keys.global_board, *(keys.bot_board(bot) for bot in bots), *(keys.weekly_board(w) for w in sorted(weeks))]
    if not store.legacy.done:  # the upgrade copies single-tag boards into the sharded ones
        legacy = store.legacy.legacy
        boards += [legacy.global_board, *(legacy.bot_board(bot) for bot in bots),
                   *(legacy.weekly_board(w) for w in sorted(weeks))]
    member = board_member(telegram_id)
    async with reachable():
        gone = await asyncio.gather(*(store.redis.zrem(board, member) for board in boards))
    return removed + sum(int(n) for n in gone)


async def delete_user(store: HotStore, telegram_id: int) -> bool:
    """Delete the user everywhere; True if they had an SQL row. Badges, payments, subscriptions, free
    trainings, promocode usages, sessions and training history go with it.

    ``await delete_user(store, 42)``
    """
    check_telegram_id(telegram_id)
    bots = await _bot_names(store, telegram_id)
    await evict_hot_state(store, telegram_id, bots)
    sessions = async_sessionmaker(store.engine, expire_on_commit=False)
    async with sessions.begin() as session:
        result = await session.execute(
            delete(User).where(User.telegram_id == telegram_id).execution_options(synchronize_session=False)
        )
        existed = bool(getattr(result, "rowcount", 0))
    await evict_hot_state(store, telegram_id, bots)
    return existed
