"""A full Redis (noeviction): typed refusals with nothing half-applied, then the write-behind makes room.

Each test starts its own redis-server (fixture ``private_redis``), fills it with clean entities through the store
and lowers ``maxmemory`` below what is in use.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore import HotStore, Settings, StoreFull
from hotstore.core import constants as c
from hotstore.core.keys import session_member
from hotstore.writebehind.metrics import read_metrics
from hotstore.writebehind.runner import WriteBehind
from tests.support.dirty import dirty_count, dirty_score
from tests.support.full_redis import entity_snapshot, fill_with_clean_sessions, make_full, used_memory
from tests.support.redis_server import RedisServer

DIRTY_TG = 42
FILLERS = 400


@dataclass
class FullRedis:
    client: aioredis.Redis
    store: HotStore
    cycle: WriteBehind
    maxmemory: int


@pytest.fixture
async def full_redis(
    private_redis: Callable[..., RedisServer], sqlite_engine: AsyncEngine, namespace: str
) -> AsyncIterator[FullRedis]:
    """A private Redis full of clean sessions, with one dirty user (DIRTY_TG) in the bot ``spin_bot``."""
    server = private_redis()
    client = server.client()
    settings = Settings(database_url=sqlite_engine.url.render_as_string(hide_password=False), namespace=namespace)
    store = await HotStore.open(settings, redis=client, engine=sqlite_engine)
    cycle = WriteBehind.open(settings, redis=client, engine=sqlite_engine)
    await fill_with_clean_sessions(store, cycle, FILLERS)
    await store.bot("spin_bot").add_xp(DIRTY_TG, 10)
    limit = await make_full(client)
    yield FullRedis(client, store, cycle, limit)
    await store.close()
    await client.aclose()


async def test_a_write_to_a_full_redis_raises_store_full_and_writes_nothing(full_redis: FullRedis) -> None:
    before = await entity_snapshot(full_redis.client, full_redis.store, DIRTY_TG, "spin_bot")

    with pytest.raises(StoreFull, match="nothing was written"):
        await full_redis.store.bot("spin_bot").add_xp(DIRTY_TG, 5)

    assert await entity_snapshot(full_redis.client, full_redis.store, DIRTY_TG, "spin_bot") == before


async def test_a_first_contact_on_a_full_redis_raises_store_full_and_leaves_redis_without_the_user(
    full_redis: FullRedis,
) -> None:
    with pytest.raises(StoreFull):
        await full_redis.store.bot("spin_bot").get_session(77, username="new")

    assert await full_redis.client.exists(full_redis.store.keys.user(77)) == 0
    assert await dirty_score(full_redis.client, full_redis.store.keys, "users", "77") is None


async def test_store_full_is_a_store_unavailable() -> None:
    from hotstore import StoreUnavailable

    assert issubclass(StoreFull, StoreUnavailable)


async def test_the_pressure_tick_evicts_clean_entities_until_below_the_target(full_redis: FullRedis) -> None:
    evicted = await full_redis.cycle.pressure_tick()

    assert evicted > 0
    assert await used_memory(full_redis.client) < c.MEMORY_PRESSURE_TARGET * full_redis.maxmemory
    metrics = await read_metrics(full_redis.client, full_redis.store.keys)
    assert metrics[c.METRIC_PRESSURE_EVICTIONS] == evicted


async def test_the_pressure_tick_never_evicts_a_dirty_entity(full_redis: FullRedis) -> None:
    keys = full_redis.store.keys
    await full_redis.cycle.pressure_tick()

    assert await dirty_score(full_redis.client, keys, "users", str(DIRTY_TG)) is not None
    assert await full_redis.client.exists(keys.user(DIRTY_TG), keys.session("spin_bot", DIRTY_TG)) == 2
    assert await dirty_score(full_redis.client, keys, "sessions", session_member("spin_bot", DIRTY_TG)) is not None


async def test_the_pressure_tick_evicts_the_longest_idle_first(full_redis: FullRedis) -> None:
    keys = full_redis.store.keys
    newest = keys.session("spin_bot", 8_000_000_000 + FILLERS - 1)
    await full_redis.client.pexpire(keys.session("spin_bot", 8_000_000_000), 1_000)  # the longest idle: goes first
    await full_redis.client.pexpire(newest, 10 * 86_400_000)  # just used (a longer TTL than any other): stays

    await full_redis.cycle.pressure_tick()

    assert await full_redis.client.exists(keys.session("spin_bot", 8_000_000_000)) == 0
    assert await full_redis.client.exists(newest) == 1  # the least idle ones stay


async def test_after_the_pressure_tick_writes_succeed_again(full_redis: FullRedis) -> None:
    bot = full_redis.store.bot("spin_bot")
    with pytest.raises(StoreFull):
        await bot.add_xp(DIRTY_TG, 5)

    await full_redis.cycle.flush_tick()  # a flush tick relieves the pressure first

    assert (await bot.add_xp(DIRTY_TG, 5)).total_xp == 15
    assert (await bot.get_session(8_000_000_000)).session["i"] == 0  # an evicted one comes back from SQL


async def test_a_flush_tick_on_a_full_redis_still_flushes_the_dirty_entities(full_redis: FullRedis) -> None:
    await full_redis.client.config_set("maxmemory", 0)  # room for the write below, then full again
    await full_redis.store.bot("spin_bot").add_xp(DIRTY_TG, 1)
    await make_full(full_redis.client, fraction=0.5)  # far over: the pressure tick cannot get below 90 % ...
    await full_redis.client.config_set("maxmemory-policy", "noeviction")

    totals = await full_redis.cycle.flush_tick()  # ... and the flush lease cannot be stored: it flushes anyway

    assert totals is not None and totals.rows >= 1
    assert await dirty_count(full_redis.client, full_redis.store.keys, "users") == 0
