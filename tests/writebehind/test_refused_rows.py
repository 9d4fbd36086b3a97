"""Defence in depth: a row SQL refuses refuses only itself. It stays dirty (no TTL), is recorded in
``keys.refused`` with its key and error, shown by ``hotstore status`` (``--check`` fails), written apart from the
others on later flushes, and cleared once it flushes (issue 12, finding 1). The poison is planted in Redis
directly, past the validation that refuses it on the way in."""

from __future__ import annotations

import io

import pytest
import redis.asyncio as aioredis
from rich.console import Console
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.cli.tables import status_view
from hotstore.cli.views import check_status
from hotstore.core import constants as c
from hotstore.core.codec import encode_value
from hotstore.core.keys import KeyScheme, session_member
from hotstore.writebehind.flush import drain
from hotstore.writebehind.refused import RefusedRow, read_refused, record_refused
from hotstore.writebehind.runner import WriteBehind
from persistence.models import BotSession, User
from tests.support.dirty import dirty_score, dirty_set_of
from tests.support.hot_entities import hot_session, settings_for, sql_session_row, sql_user

BOT = "spin_bot"
SESSIONS = 1000
POISONED = 500  # in the middle of the first batch of 500


async def _sessions_holding(engine: AsyncEngine, value: str) -> int:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(BotSession.session_data))).scalars().all()
    return sum(1 for document in rows if document.get("x") == value)


async def _thousand_dirty_sessions(redis: aioredis.Redis, engine: AsyncEngine, keys: KeyScheme) -> None:
    """Users 1..SESSIONS in SQL (one statement) and their dirty sessions in Redis, as saved through hotstore."""
    async with engine.begin() as conn:
        result = await conn.execute(insert(User).returning(User.telegram_id, User.id),
                                    [{"telegram_id": tg} for tg in range(1, SESSIONS + 1)])
        ids = {int(tg): int(uid) for tg, uid in result.all()}
    async with redis.pipeline(transaction=False) as pipe:
        for tg, uid in ids.items():
            key = keys.session(BOT, tg)
            pipe.hset(key, mapping={c.SESSION_USER_ID: uid, c.SESSION_XP: 0, c.SESSION_CREATED_MS: 1,
                                    c.SESSION_UPDATED_MS: 1, c.VERSION: 1, "s:x": encode_value("clean")})
            pipe.zadd(dirty_set_of(keys, "sessions", session_member(BOT, tg)), {session_member(BOT, tg): tg})
        await pipe.execute()


@pytest.mark.parametrize("sql_url", ["postgres"], indirect=True)
async def test_one_nul_in_a_thousand_sessions_blocks_only_itself(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    await _thousand_dirty_sessions(redis_client, sql_engine, settings.keys)
    key = settings.keys.session(BOT, POISONED)
    await redis_client.hset(key, "s:x", encode_value("a\x00b"))  # what validation would have refused

    totals = await drain(redis_client, sql_engine, settings)

    assert await _sessions_holding(sql_engine, "clean") == SESSIONS - 1
    assert (totals.rejected, totals.remaining) == (1, 1)
    assert await dirty_score(redis_client, settings.keys, "sessions", session_member(BOT, POISONED)) is not None
    assert await redis_client.ttl(key) == -1  # dirty: never expires
    assert await redis_client.ttl(settings.keys.session(BOT, 1)) > 0  # the clean ones flushed and expire
    count, shown = await read_refused(redis_client, settings.keys)
    assert count == 1 and shown[0]["key"] == key and "Unicode" in shown[0]["error"]


async def test_a_refused_row_is_shown_by_status_and_fails_the_check(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    key = await hot_session(redis_client, settings.keys, BOT, 2, 999_999, session={}, stats={}, xp=1, version=1)
    await drain(redis_client, sql_engine, settings)  # no such user row: SQL refuses the session

    info = await WriteBehind.open(settings, redis=redis_client, engine=sql_engine).status()

    assert info["refused_count"] == 1
    assert info["refused_rows"][0]["key"] == key and info["refused_rows"][0]["entity"] == "sessions"
    assert "IntegrityError" in info["refused_rows"][0]["error"]
    console = Console(width=300, record=True, file=io.StringIO())
    console.print(status_view(info, healthy=False, reason="refused"))
    lines = [line for line in console.export_text().splitlines() if "still refused" in line]
    assert len(lines) == 1 and f"1: {key} (" in lines[0]
    healthy, reason = check_status({**info, c.METRIC_LAST_FLUSH_AT: 10**15}, max_age=60, now=10**12)
    assert not healthy and key in reason


async def test_a_refused_row_is_cleared_once_it_flushes(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    keys = settings.keys
    key = await hot_session(redis_client, keys, BOT, 2, 999_999, session={"a": 1}, stats={}, xp=1, version=1)
    await drain(redis_client, sql_engine, settings)
    uid = await sql_user(sql_engine, 2)
    await redis_client.hset(key, c.SESSION_USER_ID, uid)  # the operator repairs it

    totals = await drain(redis_client, sql_engine, settings)

    assert (totals.rows, totals.rejected, totals.remaining) == (1, 0, 0)
    assert (await sql_session_row(sql_engine, uid, BOT)).session_data == {"a": 1}
    assert await redis_client.hlen(keys.refused) == 0


async def test_a_hash_that_makes_no_row_is_recorded_as_refused(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    uid = await sql_user(sql_engine, 3)
    key = await hot_session(redis_client, settings.keys, BOT, 3, uid, session={}, stats={}, xp=1, version=1)
    await redis_client.hset(key, "s:bad", b"\xc1not msgpack")

    totals = await drain(redis_client, sql_engine, settings)

    count, shown = await read_refused(redis_client, settings.keys)
    assert totals.remaining == 1 and count == 1 and shown[0]["key"] == key


async def test_rows_flushed_after_a_refused_one_are_not_held_back(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    keys = settings.keys
    await hot_session(redis_client, keys, BOT, 2, 999_999, session={}, stats={}, xp=1, version=1)
    await drain(redis_client, sql_engine, settings)
    uids = [await sql_user(sql_engine, tg) for tg in (10, 11)]
    for tg, uid in zip((10, 11), uids, strict=True):
        await hot_session(redis_client, keys, BOT, tg, uid, session={"n": tg}, stats={}, xp=1, version=1)

    totals = await drain(redis_client, sql_engine, settings)

    assert (totals.rows, totals.rejected, totals.remaining) == (2, 1, 1)
    async with sql_engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(BotSession))).scalar_one() == 2


async def test_the_record_of_refused_rows_is_capped(
    redis_client: aioredis.Redis, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = settings_for("sqlite+aiosqlite://", namespace).keys
    monkeypatch.setattr(c, "REFUSED_ROWS_MAX", 3)
    rows = [RefusedRow(keys.session(BOT, tg), "sessions", session_member(BOT, tg), "refused", tg) for tg in range(5)]

    await record_refused(redis_client, keys, rows)
    await record_refused(redis_client, keys, [RefusedRow(rows[0].key, "sessions", rows[0].member, "again", 9)])

    assert await redis_client.hlen(keys.refused) == 3
    assert b"again" in await redis_client.hget(keys.refused, rows[0].key)
