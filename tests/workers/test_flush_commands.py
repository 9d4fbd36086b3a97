"""``hotstore flush`` (flush_all) exit codes and ``hotstore status`` (status) contents."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.cli.operations import flush_all_async, status_async
from hotstore.core import constants as c
from hotstore.core.redis_client import connect
from hotstore.core.settings import Settings
from tests.support.dirty import dirty_count, dirty_set_of
from tests.support.hot_entities import T0_MS, delete_namespace, hot_user, sql_user

UNREACHABLE_PG = "postgresql://postgres@127.0.0.1:9/none"


async def test_flush_all_exits_0_when_nothing_dirty_remains(store_settings: Settings, sql_engine: AsyncEngine) -> None:
    redis = connect(store_settings)
    await hot_user(redis, store_settings.keys, 1, await sql_user(sql_engine, 1), xp=3, version=1)

    code = await flush_all_async(store_settings)

    assert code == 0
    assert await dirty_count(redis, store_settings.keys, "users") == 0
    await redis.aclose()


async def test_flush_all_exits_1_with_a_message_when_sql_is_unreachable(
    redis_url: str | None, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=UNREACHABLE_PG, redis_url=redis_url, namespace=namespace)
    redis = connect(settings)
    await hot_user(redis, settings.keys, 1, 1, xp=3, version=1)

    code = await flush_all_async(settings)

    assert code == 1
    assert "entities stay dirty" in capsys.readouterr().err
    assert await dirty_count(redis, settings.keys, "users") == 1
    await delete_namespace(redis, namespace)
    await redis.aclose()


async def test_flush_all_exits_1_when_an_entity_stays_dirty(
    store_settings: Settings, sql_engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    redis = connect(store_settings)
    await redis.hset(store_settings.keys.user(5), mapping={c.USER_XP: 1})  # no version: cannot be flushed
    await redis.zadd(dirty_set_of(store_settings.keys, "users", "5"), {"5": T0_MS})

    code = await flush_all_async(store_settings)

    assert code == 1
    assert "1 entities are still dirty" in capsys.readouterr().err
    await redis.aclose()


async def test_status_reports_dirty_counts_oldest_age_and_metrics(
    store_settings: Settings, sql_engine: AsyncEngine
) -> None:
    redis = connect(store_settings)
    await hot_user(redis, store_settings.keys, 1, await sql_user(sql_engine, 1), xp=3, version=1, score_ms=T0_MS)
    await redis.zadd(dirty_set_of(store_settings.keys, "sessions", "spin_bot:1"), {"spin_bot:1": T0_MS + 1000})
    await redis.hset(store_settings.keys.metrics, mapping={c.METRIC_ROWS_FLUSHED: 12, c.METRIC_FAILURES: 2})

    info = await status_async(store_settings)

    assert (info["dirty_users"], info["dirty_sessions"]) == (1, 1)
    assert info["oldest_dirty_age_s"] > 0
    assert info["metrics"][c.METRIC_ROWS_FLUSHED] == 12
    assert info["metrics"][c.METRIC_FAILURES] == 2
    assert info["metrics"][c.METRIC_LAST_FLUSH_AT] is None
    await redis.aclose()


async def test_status_of_a_clean_store_has_no_oldest_age(store_settings: Settings) -> None:
    info = await status_async(store_settings)

    assert (info["dirty_users"], info["dirty_sessions"], info["oldest_dirty_age_s"]) == (0, 0, None)
