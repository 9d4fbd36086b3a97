"""Version conflicts (invariant 11): after a Redis rollback, SQL converges to Redis's state, nothing is dropped.

A rollback is simulated here by SQL rows at versions above Redis's (what a restart from an older snapshot leaves);
tests/workers/test_fault_matrix_redis.py rolls a real Redis back from an RDB file.
"""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core import constants as c
from hotstore.core.keys import session_member
from hotstore.core.scripts import Scripts
from hotstore.writebehind.conflicts import rebase
from hotstore.writebehind.entities import USERS
from hotstore.writebehind.flush import drain, flush_batch
from hotstore.writebehind.metrics import read_metrics
from hotstore.writebehind.runner import WriteBehind
from persistence.engine import create_engine
from persistence.models import BotSession, User
from tests.support.dirty import dirty_count, dirty_score
from tests.support.hot_entities import (
    bump_xp,
    hot_session,
    hot_user,
    settings_for,
    sql_session_row,
    sql_user,
    sql_user_row,
)


async def sql_ahead(engine: AsyncEngine, telegram_id: int, *, xp: int, version: int) -> int:
    """The user's SQL row at ``version`` (as flushed before Redis rolled back); returns users.id."""
    uid = await sql_user(engine, telegram_id)
    async with engine.begin() as conn:
        await conn.execute(update(User).where(User.id == uid).values(total_xp=xp, version=version))
    return uid


async def test_an_entity_redis_holds_below_sqls_version_reaches_sql_with_redis_state(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    uid = await sql_ahead(sql_engine, 11, xp=900, version=8)
    await hot_user(redis_client, settings.keys, 11, uid, xp=300, version=5)  # written after the rollback

    totals = await WriteBehind.open(settings, redis=redis_client, engine=sql_engine).flush_everything()

    row = await sql_user_row(sql_engine, 11)
    assert row is not None and (row.total_xp, row.version) == (300, 9)
    assert await redis_client.hget(settings.keys.user(11), c.VERSION) == b"9"  # type: ignore[misc]
    assert totals.remaining == 0


async def test_a_conflict_is_counted_in_the_metrics(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    for tg in (1, 2, 3):
        await hot_user(redis_client, settings.keys, tg, await sql_ahead(sql_engine, tg, xp=9, version=7), xp=1,
                       version=2)

    totals = await flush_batch(redis_client, sql_engine, settings, USERS)

    assert totals.conflicts == 3
    assert (await read_metrics(redis_client, settings.keys))[c.METRIC_VERSION_CONFLICTS] == 3


async def test_a_conflicted_entity_stays_dirty_until_sql_holds_its_state(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    uid = await sql_ahead(sql_engine, 12, xp=900, version=8)
    key = await hot_user(redis_client, settings.keys, 12, uid, xp=300, version=5)

    await flush_batch(redis_client, sql_engine, settings, USERS)  # skipped by the guard: a conflict

    assert await dirty_score(redis_client, settings.keys, "users", "12") is not None
    assert await redis_client.pttl(key) == -1  # no idle TTL: it cannot be evicted before SQL has it


async def test_the_same_version_with_other_state_after_a_rollback_is_rewritten(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    uid = await sql_ahead(sql_engine, 13, xp=900, version=5)
    await hot_user(redis_client, settings.keys, 13, uid, xp=300, version=5)

    await drain(redis_client, sql_engine, settings)

    row = await sql_user_row(sql_engine, 13)
    assert row is not None and (row.total_xp, row.version) == (300, 5)


async def test_a_session_behind_sql_converges_too(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    uid = await sql_user(sql_engine, 14)
    await hot_session(redis_client, settings.keys, "spin_bot", 14, uid, session={"n": 1}, stats={}, xp=1, version=1)
    await drain(redis_client, sql_engine, settings)
    async with sql_engine.begin() as conn:
        await conn.execute(update(BotSession).where(BotSession.user_id == uid).values(version=6, xp=50))
    await hot_session(redis_client, settings.keys, "spin_bot", 14, uid, session={"n": 2}, stats={}, xp=2, version=3)

    await WriteBehind.open(settings, redis=redis_client, engine=sql_engine).flush_everything()

    row = await sql_session_row(sql_engine, uid, "spin_bot")
    assert (row.session_data, row.xp, row.version) == ({"n": 2}, 2, 7)
    assert await dirty_score(redis_client, settings.keys, "sessions", session_member("spin_bot", 14)) is None


async def test_a_write_after_the_flush_read_is_not_overwritten_by_the_rebase(
    redis_client: aioredis.Redis, namespace: str
) -> None:
    settings = settings_for("sqlite://", namespace)
    key = await hot_user(redis_client, settings.keys, 15, 1, xp=300, version=5)
    await bump_xp(redis_client, settings.keys, 15, 7)  # lands between the flush's read (v5) and the rebase

    rebased = await rebase(Scripts(redis_client), settings.keys, USERS, [("15", key, "5", 8)])

    assert rebased == 0
    assert await redis_client.hmget(key, [c.USER_XP, c.VERSION]) == [b"307", b"6"]  # type: ignore[misc]


async def test_two_flushers_after_a_rollback_under_concurrent_writes_leave_sql_equal_to_redis(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace, flush_batch=25)
    keys = settings.keys
    users = range(1, 41)
    for tg in users:  # SQL is ahead (v10), Redis rolled back to v1
        await hot_user(redis_client, keys, tg, await sql_ahead(sql_engine, tg, xp=999, version=10), xp=0, version=1)
    other_engine = create_engine(sql_url)

    async def writer() -> None:
        for round_ in range(5):
            for tg in users:
                await bump_xp(redis_client, keys, tg, round_ + 1)
            await asyncio.sleep(0)

    first = WriteBehind.open(settings, redis=redis_client, engine=sql_engine)
    second = WriteBehind.open(settings, redis=redis_client, engine=other_engine)
    try:
        await asyncio.gather(writer(), first.drain(), second.drain(), second.drain())
        await first.flush_everything()
    finally:
        await other_engine.dispose()

    for tg in users:
        row = await sql_user_row(sql_engine, tg)
        hot = await redis_client.hmget(keys.user(tg), [c.USER_XP, c.VERSION])  # type: ignore[misc]
        assert row is not None and (row.total_xp, str(row.version).encode()) == (15, hot[1]), tg
        assert hot[0] == b"15"  # every write after the rollback kept (1 + 2 + 3 + 4 + 5)
    assert await dirty_count(redis_client, keys, "users") == 0
