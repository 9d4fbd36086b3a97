"""Helpers of the worker tests: hot entities written straight into Redis in the documented layout.

The layout (docs/design.md "Redis layout") is what the hot store writes; writing it directly lets the worker
tests pin down exactly which version each entity is at. No tests live here.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core import constants as c
from hotstore.core.cluster import RedisClient
from hotstore.core.codec import encode_document
from hotstore.core.keys import KeyScheme, session_member
from hotstore.core.settings import Settings
from persistence.models import BotSession, User
from persistence.upsert import ensure_user_id

T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def settings_for(sql_url: str, namespace: str, **changes: Any) -> Settings:
    return Settings(database_url=sql_url, namespace=namespace, **changes)


async def sql_user(engine: AsyncEngine, telegram_id: int) -> int:
    """Insert the user's row (as the hot store does on first contact); return users.id."""
    async with engine.begin() as conn:
        return await ensure_user_id(conn, telegram_id)


async def mark_dirty(redis: aioredis.Redis, key: str, dirty_set: str, member: str, score_ms: int = T0_MS) -> None:
    await redis.zadd(dirty_set, {member: score_ms}, nx=True)
    await redis.persist(key)


async def hot_user(
    redis: aioredis.Redis,
    keys: KeyScheme,
    telegram_id: int,
    user_id: int,
    *,
    xp: int,
    version: int,
    username: str | None = None,
    dirty: bool = True,
    score_ms: int = T0_MS,
) -> str:
    """Write a user hash at ``version``; mark it dirty unless told not to. Returns the key."""
    key = keys.user(telegram_id)
    fields: dict[str, Any] = {
        c.USER_ID: user_id,
        c.USER_TELEGRAM_ID: telegram_id,
        c.USER_XP: xp,
        c.USER_LEVEL: xp // 100 + 1,
        c.USER_TOTAL_TRAININGS: 0,
        c.USER_TOTAL_SCORE: 0,
        c.USER_REGISTERED_MS: T0_MS,
        c.USER_LAST_ACTIVITY_MS: T0_MS + 1000,
        c.VERSION: version,
    }
    if username is not None:
        fields[c.USER_USERNAME] = username
    await redis.hset(key, mapping=fields)
    if dirty:
        await mark_dirty(redis, key, keys.user_dirty_set(telegram_id), str(telegram_id), score_ms)
    return key


async def hot_session(
    redis: aioredis.Redis,
    keys: KeyScheme,
    bot_name: str,
    telegram_id: int,
    user_id: int,
    *,
    session: dict[str, Any],
    stats: dict[str, Any],
    xp: int,
    version: int,
    dirty: bool = True,
) -> str:
    """Write a session hash at ``version`` (documents replaced whole); mark it dirty. Returns the key."""
    key = keys.session(bot_name, telegram_id)
    old = [name for name in await redis.hkeys(key) if name[:2] in (b"s:", b"t:")]
    if old:
        await redis.hdel(key, *old)
    fields: dict[str, Any] = {
        c.SESSION_USER_ID: user_id,
        c.SESSION_XP: xp,
        c.SESSION_CREATED_MS: T0_MS,
        c.SESSION_UPDATED_MS: T0_MS + 2000,
        c.VERSION: version,
        **encode_document(c.SESSION_FIELD_PREFIX, session),
        **encode_document(c.STATS_FIELD_PREFIX, stats),
    }
    await redis.hset(key, mapping=fields)
    if dirty:
        await mark_dirty(redis, key, keys.session_dirty_set(telegram_id), session_member(bot_name, telegram_id))
    return key


async def bump_xp(redis: aioredis.Redis, keys: KeyScheme, telegram_id: int, amount: int) -> None:
    """A hot write to a user: XP up, version up, dirty (keeping its first-dirty score)."""
    key = keys.user(telegram_id)
    await redis.hincrby(key, c.USER_XP, amount)
    await redis.hincrby(key, c.VERSION, 1)
    await mark_dirty(redis, key, keys.user_dirty_set(telegram_id), str(telegram_id), T0_MS + 5)


async def sql_user_row(engine: AsyncEngine, telegram_id: int) -> User | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(User).where(User.telegram_id == telegram_id))).first()
    return row  # type: ignore[return-value]


async def sql_session_row(engine: AsyncEngine, user_id: int, bot_name: str) -> Any:
    async with engine.connect() as conn:
        stmt = select(BotSession).where(BotSession.user_id == user_id, BotSession.bot_name == bot_name)
        return (await conn.execute(stmt)).first()


async def delete_namespace(redis: RedisClient, namespace: str) -> None:
    """Delete the namespace's keys and the arq keys of its queue and cron jobs."""
    for pattern in ("{" + namespace + "[}:]*", f"arq:*{namespace}*"):
        async for key in redis.scan_iter(match=pattern, count=1000):
            await redis.delete(key)
