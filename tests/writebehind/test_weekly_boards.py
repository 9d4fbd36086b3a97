"""Weekly boards carry no TTL (a volatile-* policy could evict them); the sweep deletes the weeks past retention."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore import HotStore, Settings
from hotstore.core.keys import board_member, iso_week
from hotstore.writebehind.runner import WriteBehind
from hotstore.writebehind.weekly_boards import expire_old_weekly_boards, is_expired
from tests.support.hot_entities import settings_for
from tests.support.redis_server import RedisServer

TODAY = date(2026, 12, 2)  # a Wednesday of 2026-W49


def test_a_board_is_kept_for_the_configured_number_of_weeks() -> None:
    assert not is_expired("2026-W49", TODAY, 5)
    assert not is_expired("2026-W44", TODAY, 5)
    assert is_expired("2026-W43", TODAY, 5)
    assert not is_expired("2027-W01", TODAY, 5)  # a future week (clock skew) is not old
    assert not is_expired("not-a-week", TODAY, 5)


async def test_the_sweep_deletes_weekly_boards_older_than_retention(
    redis_client: aioredis.Redis, namespace: str
) -> None:
    settings = settings_for("sqlite://", namespace, weekly_board_weeks=5)
    weeks = {offset: settings.keys.weekly_board(iso_week(TODAY - timedelta(weeks=offset))) for offset in (0, 5, 6, 9)}
    for key in weeks.values():
        await redis_client.zadd(key, {board_member(1): 10})

    deleted = await expire_old_weekly_boards(redis_client, settings, today=TODAY)

    assert deleted == 2
    assert [await redis_client.exists(weeks[offset]) for offset in (0, 5, 6, 9)] == [1, 1, 0, 0]


async def test_the_sweep_takes_a_leftover_ttl_off_a_kept_board(redis_client: aioredis.Redis, namespace: str) -> None:
    settings = settings_for("sqlite://", namespace)
    board = settings.keys.weekly_board(iso_week(TODAY))
    await redis_client.zadd(board, {board_member(1): 10})
    await redis_client.pexpire(board, 86_400_000)  # set by an older hotstore

    await expire_old_weekly_boards(redis_client, settings, today=TODAY)

    assert await redis_client.pttl(board) == -1


async def test_the_sweep_tick_expires_old_weeks(hot_store: HotStore, redis_client: aioredis.Redis) -> None:
    old = hot_store.keys.weekly_board(iso_week(datetime.now(UTC) - timedelta(weeks=30)))
    await redis_client.zadd(old, {board_member(1): 10})
    cycle = WriteBehind.open(hot_store.settings, redis=hot_store.redis, engine=hot_store.engine)

    await cycle.sweep_tick()

    assert await redis_client.exists(old) == 0


async def test_volatile_lru_under_memory_pressure_keeps_the_weekly_board(
    private_redis: Callable[..., RedisServer], sqlite_engine: AsyncEngine, namespace: str
) -> None:
    server = private_redis("--maxmemory-policy", "volatile-lru", "--maxmemory", "4mb")
    client = server.client()
    settings = Settings(database_url=sqlite_engine.url.render_as_string(hide_password=False), namespace=namespace)
    store = await HotStore.open(settings, redis=client, engine=sqlite_engine)
    try:
        await store.bot("spin_bot").add_xp(1, 25)
        board = store.keys.weekly_board(iso_week(datetime.now(UTC)))
        evicted, i = 0, 0
        while evicted == 0:  # keys with a TTL (as clean entities have), until Redis starts evicting them
            async with client.pipeline(transaction=False) as pipe:
                for _ in range(200):
                    pipe.set(f"{{{namespace}}}:filler:{i}", "x" * 1000, px=3_600_000)
                    i += 1
                await pipe.execute()
            evicted = int((await client.info("stats"))["evicted_keys"])

        assert await client.zscore(board, board_member(1)) == 25
    finally:
        await store.close()
        await client.aclose()
