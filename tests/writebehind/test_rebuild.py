"""Leaderboard rebuild from SQL: only when lost, hot values win, concurrent awards survive the swap."""

from __future__ import annotations

import redis.asyncio as aioredis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core.keys import board_member
from hotstore.core.scripts import REBUILD_SWAP, Scripts
from hotstore.writebehind.flush import drain
from hotstore.writebehind.rebuild import boards_lost, rebuild_boards, rebuild_boards_if_lost
from persistence.models import BotSession, User
from tests.support.hot_entities import hot_session, hot_user, settings_for, sql_user


async def _sql_xp(engine: AsyncEngine, telegram_id: int, total_xp: int, bots: dict[str, int]) -> int:
    uid = await sql_user(engine, telegram_id)
    async with engine.begin() as conn:
        await conn.execute(update(User).where(User.id == uid).values(total_xp=total_xp))
        for bot, xp in bots.items():
            await conn.execute(BotSession.__table__.insert().values(user_id=uid, bot_name=bot, xp=xp))
    return uid


async def _board(redis: aioredis.Redis, key: str) -> dict[str, float]:
    return {m.decode(): s for m, s in await redis.zrange(key, 0, -1, withscores=True)}


async def test_lost_boards_are_rebuilt_from_users_and_bot_sessions(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    keys = settings.keys
    await _sql_xp(sql_engine, 1, 300, {"spin_bot": 200, "quiz_bot": 100})
    await _sql_xp(sql_engine, 2, 50, {"quiz_bot": 50})
    await _sql_xp(sql_engine, 3, 0, {})

    report = await rebuild_boards_if_lost(redis_client, sql_engine, settings, chunk=2)

    assert report is not None
    assert await _board(redis_client, keys.global_board) == {board_member(1): 300, board_member(2): 50}
    assert await _board(redis_client, keys.bot_board("spin_bot")) == {board_member(1): 200}
    assert await _board(redis_client, keys.bot_board("quiz_bot")) == {board_member(1): 100, board_member(2): 50}
    assert not await boards_lost(redis_client, keys)


async def test_boards_are_not_rebuilt_when_nothing_was_lost(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    await _sql_xp(sql_engine, 1, 300, {})
    await rebuild_boards_if_lost(redis_client, sql_engine, settings)

    assert await rebuild_boards_if_lost(redis_client, sql_engine, settings) is None


async def test_rebuild_takes_the_hot_value_of_a_user_still_in_redis(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    keys = settings.keys
    uid = await _sql_xp(sql_engine, 1, 100, {"spin_bot": 100})
    await hot_user(redis_client, keys, 1, uid, xp=180, version=2)  # dirty: newer than SQL
    await hot_session(redis_client, keys, "spin_bot", 1, uid, session={}, stats={}, xp=180, version=2)

    await rebuild_boards(redis_client, sql_engine, settings)

    assert await redis_client.zscore(keys.global_board, board_member(1)) == 180
    assert await redis_client.zscore(keys.bot_board("spin_bot"), board_member(1)) == 180


async def test_awards_made_to_the_live_board_during_a_rebuild_survive_the_swap(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    keys = settings.keys
    await _sql_xp(sql_engine, 1, 100, {})
    await _sql_xp(sql_engine, 2, 70, {})
    calls = 0

    async def award_meanwhile() -> bool:  # called between chunks: a hot award recreates the live board
        nonlocal calls
        calls += 1
        await redis_client.zadd(keys.global_board, {board_member(1): 130, board_member(9): 5})
        return True

    await rebuild_boards(redis_client, sql_engine, settings, chunk=1, renew=award_meanwhile)

    assert calls >= 1
    assert await _board(redis_client, keys.global_board) == {
        board_member(1): 130,
        board_member(2): 70,
        board_member(9): 5,
    }


async def test_rebuild_leaves_no_temporary_key_behind(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    await _sql_xp(sql_engine, 1, 10, {"spin_bot": 10})

    await rebuild_boards(redis_client, sql_engine, settings)

    temp_boards = settings.keys.temp_board(settings.keys.global_board, "*")
    assert [k async for k in redis_client.scan_iter(match=temp_boards)] == []


async def test_rebuild_after_a_flush_matches_the_boards_the_hot_path_kept(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    keys = settings.keys
    for tg in range(1, 6):
        uid = await sql_user(sql_engine, tg)
        await hot_user(redis_client, keys, tg, uid, xp=tg * 10, version=1)
        await redis_client.zadd(keys.global_board, {board_member(tg): tg * 10})
    await drain(redis_client, sql_engine, settings)
    before = await _board(redis_client, keys.global_board)
    await redis_client.delete(keys.global_board, *[keys.user(tg) for tg in range(1, 6)])

    await rebuild_boards_if_lost(redis_client, sql_engine, settings)

    assert await _board(redis_client, keys.global_board) == before


async def test_a_temporary_board_evicted_mid_rebuild_is_never_swapped_in(
    redis_client: aioredis.Redis, namespace: str
) -> None:
    keys = settings_for("sqlite://", namespace).keys
    temp, live = keys.temp_board(keys.global_board, "evicted"), keys.global_board
    await redis_client.zadd(temp, {"a": 1})  # 3 members were written; Redis evicted the key and 1 came back

    assert await Scripts(redis_client).call(REBUILD_SWAP, [temp, live], [3]) == -1

    assert await redis_client.exists(temp, live) == 0
