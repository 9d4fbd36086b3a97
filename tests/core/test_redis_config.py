"""The store refuses a Redis whose maxmemory-policy can evict unsaved data; each test starts its own redis-server."""

from __future__ import annotations

import logging
from collections.abc import Callable

import fakeredis
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore import HotStore, Settings, UnsafeRedisConfig
from hotstore.core import redis_config
from hotstore.core.redis_config import read_redis_config
from tests.support.redis_server import RedisServer

PrivateRedis = Callable[..., RedisServer]


def settings_on(server: RedisServer, sqlite_engine: AsyncEngine) -> Settings:
    return Settings(database_url=sqlite_engine.url.render_as_string(hide_password=False), redis_url=server.url)


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu", "allkeys-random"])
async def test_the_store_refuses_an_allkeys_policy_naming_the_setting_and_the_fix(
    private_redis: PrivateRedis, sqlite_engine: AsyncEngine, policy: str
) -> None:
    server = private_redis("--maxmemory-policy", policy)
    with pytest.raises(UnsafeRedisConfig) as refused:
        await HotStore.open(settings_on(server, sqlite_engine), engine=sqlite_engine)
    message = str(refused.value)
    assert f"maxmemory-policy is {policy}" in message
    assert "CONFIG SET maxmemory-policy noeviction" in message


@pytest.mark.parametrize("policy", ["noeviction", "volatile-lru", "volatile-ttl"])
async def test_the_store_opens_on_a_policy_that_only_evicts_keys_with_a_ttl(
    private_redis: PrivateRedis, sqlite_engine: AsyncEngine, policy: str
) -> None:
    server = private_redis("--maxmemory-policy", policy)
    store = await HotStore.open(settings_on(server, sqlite_engine), engine=sqlite_engine)
    try:
        assert (await store.bot("spin").add_xp(1, 5)).total_xp == 5
    finally:
        await store.close()


async def test_with_config_renamed_the_policy_is_read_from_info_and_still_refused(
    private_redis: PrivateRedis, sqlite_engine: AsyncEngine
) -> None:
    server = private_redis("--maxmemory-policy", "allkeys-lru", "--rename-command", "CONFIG", "")
    with pytest.raises(UnsafeRedisConfig, match="allkeys-lru"):
        await HotStore.open(settings_on(server, sqlite_engine), engine=sqlite_engine)


async def test_when_neither_config_nor_info_answers_the_store_warns_once_and_opens(
    private_redis: PrivateRedis, sqlite_engine: AsyncEngine, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(redis_config, "_warned_unknown", False)
    server = private_redis("--maxmemory-policy", "allkeys-lru", "--rename-command", "CONFIG", "",
                           "--rename-command", "INFO", "")
    settings = settings_on(server, sqlite_engine)
    with caplog.at_level(logging.WARNING, logger="hotstore.redis"):
        for _ in range(2):
            store = await HotStore.open(settings, engine=sqlite_engine)
            await store.close()
    warnings = [r for r in caplog.records if "maxmemory-policy" in r.getMessage()]
    assert len(warnings) == 1


async def test_the_configuration_names_policy_memory_and_persistence(private_redis: PrivateRedis) -> None:
    server = private_redis("--maxmemory", "64mb", "--appendonly", "yes")
    client = server.client()
    try:
        config = await read_redis_config(client)
    finally:
        await client.aclose()
    assert (config.maxmemory_policy, config.maxmemory, config.persistence) == ("noeviction", 64 * 2**20, "aof")
    assert config.used_memory is not None and config.used_memory > 0


@pytest.mark.parametrize(("save", "persistence"), [("", "none"), ("900 1", "rdb")])
async def test_without_aof_persistence_is_rdb_when_snapshots_are_configured(
    private_redis: PrivateRedis, save: str, persistence: str
) -> None:
    server = private_redis("--save", save)
    client = server.client()
    try:
        assert (await read_redis_config(client)).persistence == persistence
    finally:
        await client.aclose()


async def test_the_embedded_fakeredis_reports_nothing_and_is_never_refused() -> None:
    config = await read_redis_config(fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer()))
    assert (config.maxmemory_policy, config.persistence, config.unsafe) == (None, None, False)
