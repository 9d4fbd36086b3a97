"""The write-behind flush: dirty hashes reach SQL, version-guarded, and only unchanged entities turn clean."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core.keys import session_member
from hotstore.core.scripts import Scripts
from hotstore.writebehind.entities import SESSIONS, USERS
from hotstore.writebehind.flush import compare_and_clean, drain, flush_batch, read_dirty, write_rows
from persistence.engine import create_engine
from persistence.models import User
from tests.support.dirty import dirty_count, dirty_members, dirty_score, dirty_set_of
from tests.support.hot_entities import (
    bump_xp,
    hot_session,
    hot_user,
    settings_for,
    sql_session_row,
    sql_user,
    sql_user_row,
)


async def test_dirty_user_reaches_sql_and_turns_clean_with_idle_ttl(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    uid = await sql_user(sql_engine, 1001)
    key = await hot_user(redis_client, settings.keys, 1001, uid, xp=250, version=3, username="ann")

    totals = await drain(redis_client, sql_engine, settings)

    row = await sql_user_row(sql_engine, 1001)
    assert row is not None
    assert (row.total_xp, row.level, row.username, row.version) == (250, 3, "ann", 3)
    assert totals.rows == 1 and totals.remaining == 0
    assert await dirty_count(redis_client, settings.keys, "users") == 0
    assert 0 < await redis_client.ttl(key) <= settings.idle_ttl


async def test_dirty_session_documents_reach_sql(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    uid = await sql_user(sql_engine, 7)
    session = {"question_count": 4, "case": "b2b", "per_type_counts": {"1": 2}}
    stats = {"best": 91.5, "total_trainings": 12}
    await hot_session(redis_client, settings.keys, "spin_bot", 7, uid, session=session, stats=stats, xp=40, version=2)

    await drain(redis_client, sql_engine, settings)

    row = await sql_session_row(sql_engine, uid, "spin_bot")
    assert (row.session_data, row.stats_data, row.xp, row.version) == (session, stats, 40, 2)
    assert await dirty_count(redis_client, settings.keys, "sessions") == 0


async def test_write_landing_during_a_flush_keeps_the_entity_dirty(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    keys = settings.keys
    uid = await sql_user(sql_engine, 5)
    await hot_user(redis_client, keys, 5, uid, xp=10, version=1)

    batch = await read_dirty(redis_client, keys, USERS, limit=100)
    await bump_xp(redis_client, keys, 5, 7)  # lands after the read, before the clean
    await write_rows(sql_engine, USERS, batch.rows)
    cleaned, kept = await compare_and_clean(redis_client, Scripts(redis_client), keys, batch, settings.idle_ttl)

    assert (cleaned, kept) == (0, 1)
    assert await dirty_score(redis_client, keys, "users", "5") is not None
    assert await redis_client.ttl(keys.user(5)) == -1  # still dirty: never evictable
    await drain(redis_client, sql_engine, settings)
    row = await sql_user_row(sql_engine, 5)
    assert row is not None and (row.total_xp, row.version) == (17, 2)


async def test_flushing_twice_changes_nothing_the_second_time(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    uid = await sql_user(sql_engine, 9)
    await hot_user(redis_client, settings.keys, 9, uid, xp=120, version=4)
    batch = await read_dirty(redis_client, settings.keys, USERS, limit=100)

    await write_rows(sql_engine, USERS, batch.rows)  # a worker crashed after committing, before cleaning
    await write_rows(sql_engine, USERS, batch.rows)
    await drain(redis_client, sql_engine, settings)

    row = await sql_user_row(sql_engine, 9)
    assert row is not None and (row.total_xp, row.version) == (120, 4)
    assert await dirty_count(redis_client, settings.keys, "users") == 0


async def test_an_older_version_never_overwrites_a_newer_row(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    uid = await sql_user(sql_engine, 11)
    async with sql_engine.begin() as conn:
        await conn.execute(update(User).where(User.id == uid).values(total_xp=900, version=8))
    await hot_user(redis_client, settings.keys, 11, uid, xp=300, version=5)

    await drain(redis_client, sql_engine, settings)

    row = await sql_user_row(sql_engine, 11)
    assert row is not None and (row.total_xp, row.version) == (900, 8)


async def test_user_without_a_sql_row_is_inserted(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    await hot_user(redis_client, settings.keys, 4242, 1, xp=55, version=1, username="new")

    await drain(redis_client, sql_engine, settings)

    row = await sql_user_row(sql_engine, 4242)
    assert row is not None and (row.total_xp, row.username) == (55, "new")


async def test_dirty_member_whose_hash_is_gone_just_leaves_the_dirty_set(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    member = session_member("quiz_bot", 3)
    await redis_client.zadd(dirty_set_of(settings.keys, "sessions", member), {member: 1})

    totals = await drain(redis_client, sql_engine, settings)

    assert (totals.rows, totals.cleaned, totals.remaining) == (0, 1, 0)


async def test_drain_flushes_in_batches_of_flush_batch(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace, flush_batch=40)
    for tg in range(1, 101):
        uid = await sql_user(sql_engine, tg)
        await hot_user(redis_client, settings.keys, tg, uid, xp=tg, version=1, score_ms=tg)

    totals = await drain(redis_client, sql_engine, settings)

    assert (totals.batches, totals.rows, totals.remaining) == (3, 100, 0)
    row = await sql_user_row(sql_engine, 100)
    assert row is not None and row.total_xp == 100


async def test_entity_rewritten_during_its_flush_moves_behind_the_others(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace, flush_batch=1)
    keys = settings.keys
    for tg in (1, 2):
        await hot_user(redis_client, keys, tg, await sql_user(sql_engine, tg), xp=0, version=1, score_ms=tg)
    batch = await read_dirty(redis_client, keys, USERS, limit=1)
    await bump_xp(redis_client, keys, 1, 5)

    await compare_and_clean(redis_client, Scripts(redis_client), keys, batch, settings.idle_ttl)

    assert await dirty_members(redis_client, keys, "users") == ["2", "1"]


async def test_two_flushers_at_once_under_concurrent_writes_leave_sql_equal_to_redis(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace, flush_batch=25)
    keys = settings.keys
    users = range(1, 61)
    for tg in users:
        await hot_user(redis_client, keys, tg, await sql_user(sql_engine, tg), xp=0, version=1)
    other_engine = create_engine(sql_url)

    async def writer() -> None:
        for round_ in range(5):
            for tg in users:
                await bump_xp(redis_client, keys, tg, round_ + 1)
            await asyncio.sleep(0)

    try:
        await asyncio.gather(
            writer(),
            drain(redis_client, sql_engine, settings),
            drain(redis_client, other_engine, settings),
            drain(redis_client, other_engine, settings),
        )
        await drain(redis_client, sql_engine, settings)
    finally:
        await other_engine.dispose()

    for tg in users:
        row = await sql_user_row(sql_engine, tg)
        assert row is not None and (row.total_xp, row.version) == (15, 6), tg
    assert await dirty_count(redis_client, keys, "users") == 0


async def test_flush_batch_of_an_empty_dirty_set_writes_nothing(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)

    totals = await flush_batch(redis_client, sql_engine, settings, SESSIONS)

    assert (totals.rows, totals.batches) == (0, 0)


async def test_a_row_sql_refuses_stays_dirty_without_blocking_the_others(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    keys = settings.keys
    uid = await sql_user(sql_engine, 1)
    await hot_session(redis_client, keys, "spin_bot", 1, uid, session={"a": 1}, stats={}, xp=1, version=1)
    await hot_session(redis_client, keys, "spin_bot", 2, 999_999, session={}, stats={}, xp=1, version=1)  # no user

    totals = await drain(redis_client, sql_engine, settings)

    assert (totals.rows, totals.rejected, totals.remaining) == (1, 1, 1)
    assert await dirty_score(redis_client, keys, "sessions", session_member("spin_bot", 2)) is not None
    row = await sql_session_row(sql_engine, uid, "spin_bot")
    assert row.session_data == {"a": 1}
