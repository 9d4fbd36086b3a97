"""The worker and the in-process flusher refuse a Redis whose maxmemory-policy can evict unsaved data.

Each test starts its own redis-server (fixture ``private_redis``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore import Settings, UnsafeRedisConfig
from hotstore.writebehind.flusher import InProcessFlusher
from tests.support.redis_server import RedisServer
from workers.jobs import SETTINGS, STATE, shutdown, startup

PrivateRedis = Callable[..., RedisServer]


def settings_on(server: RedisServer, sqlite_engine: AsyncEngine, namespace: str) -> Settings:
    url = sqlite_engine.url.render_as_string(hide_password=False)
    return Settings(database_url=url, redis_url=server.url, namespace=namespace)


async def test_the_worker_refuses_to_start_on_allkeys_lru_naming_the_setting(
    private_redis: PrivateRedis, sqlite_engine: AsyncEngine, namespace: str
) -> None:
    server = private_redis("--maxmemory-policy", "allkeys-lru")
    ctx: dict[str, Any] = {SETTINGS: settings_on(server, sqlite_engine, namespace)}

    with pytest.raises(UnsafeRedisConfig, match="maxmemory-policy is allkeys-lru"):
        await startup(ctx)

    assert STATE not in ctx  # no write-behind cycle was left running


async def test_the_worker_starts_on_volatile_lru(
    private_redis: PrivateRedis, sqlite_engine: AsyncEngine, namespace: str
) -> None:
    server = private_redis("--maxmemory-policy", "volatile-lru")
    ctx: dict[str, Any] = {SETTINGS: settings_on(server, sqlite_engine, namespace)}

    await startup(ctx)
    try:
        assert STATE in ctx
    finally:
        await shutdown(ctx)


async def test_the_in_process_flusher_refuses_to_start_on_allkeys_lfu(
    private_redis: PrivateRedis, sqlite_engine: AsyncEngine, namespace: str
) -> None:
    server = private_redis("--maxmemory-policy", "allkeys-lfu")
    flusher = InProcessFlusher(settings_on(server, sqlite_engine, namespace), engine=sqlite_engine)

    with pytest.raises(UnsafeRedisConfig, match="CONFIG SET maxmemory-policy noeviction"):
        await flusher.start()

    assert not flusher.running
