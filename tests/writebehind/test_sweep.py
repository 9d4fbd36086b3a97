"""Idle sweep: clean entities without a TTL get the idle TTL; dirty ones never do."""

from __future__ import annotations

import redis.asyncio as aioredis

from hotstore.writebehind.sweep import sweep_idle
from tests.support.hot_entities import hot_session, hot_user, settings_for


async def test_clean_user_and_session_without_ttl_get_the_idle_ttl(
    redis_client: aioredis.Redis, namespace: str
) -> None:
    settings = settings_for("sqlite://", namespace, idle_ttl=600)
    keys = settings.keys
    user = await hot_user(redis_client, keys, 1, 1, xp=0, version=1, dirty=False)
    session = await hot_session(
        redis_client, keys, "spin_bot", 1, 1, session={}, stats={}, xp=0, version=1, dirty=False
    )

    expired = await sweep_idle(redis_client, settings, scan_count=10)

    assert expired == 2
    assert 0 < await redis_client.ttl(user) <= 600
    assert 0 < await redis_client.ttl(session) <= 600


async def test_dirty_entities_are_never_given_a_ttl(redis_client: aioredis.Redis, namespace: str) -> None:
    settings = settings_for("sqlite://", namespace)
    keys = settings.keys
    user = await hot_user(redis_client, keys, 2, 1, xp=0, version=1)
    session = await hot_session(redis_client, keys, "spin_bot", 2, 1, session={}, stats={}, xp=0, version=1)

    assert await sweep_idle(redis_client, settings) == 0
    assert await redis_client.ttl(user) == -1
    assert await redis_client.ttl(session) == -1


async def test_an_existing_ttl_is_left_alone(redis_client: aioredis.Redis, namespace: str) -> None:
    settings = settings_for("sqlite://", namespace, idle_ttl=600)
    user = await hot_user(redis_client, settings.keys, 3, 1, xp=0, version=1, dirty=False)
    await redis_client.expire(user, 50)

    assert await sweep_idle(redis_client, settings) == 0
    assert await redis_client.ttl(user) <= 50


async def test_sweep_covers_more_keys_than_one_scan_chunk(redis_client: aioredis.Redis, namespace: str) -> None:
    settings = settings_for("sqlite://", namespace)
    for tg in range(25):
        await hot_user(redis_client, settings.keys, tg, tg, xp=0, version=1, dirty=tg % 5 == 0)

    assert await sweep_idle(redis_client, settings, scan_count=4) == 20
