"""``hotstore worker --burst``: one pass of the worker's jobs, then exit (0 when nothing is left dirty).

arq's own burst mode never exits for this worker: its cron jobs re-enqueue themselves on every poll, so the
queue is never empty.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core.redis_client import connect
from hotstore.core.settings import Settings
from tests.support.hot_entities import hot_user, sql_user, sql_user_row
from workers.commands import burst_flush

ROOT = Path(__file__).resolve().parents[2]
HANG_GUARD_S = 120.0  # only stops a worker that would never exit; the test then fails on its exit code


async def test_a_burst_flushes_what_is_dirty_and_returns_0(store_settings: Settings, sql_engine: AsyncEngine) -> None:
    redis = connect(store_settings)
    uid = await sql_user(sql_engine, 51)
    await hot_user(redis, store_settings.keys, 51, uid, xp=12, version=2)
    await redis.aclose()

    code = await burst_flush(store_settings)

    row = await sql_user_row(sql_engine, 51)
    assert code == 0
    assert row is not None and row.total_xp == 12


async def test_a_burst_that_cannot_reach_sql_returns_1(store_settings: Settings) -> None:
    redis = connect(store_settings)
    await hot_user(redis, store_settings.keys, 52, 1, xp=1, version=1)
    await redis.aclose()

    code = await burst_flush(store_settings.with_(database_url="postgresql://postgres@127.0.0.1:9/none",
                                                  sql_timeout=1.0))

    assert code == 1


@pytest.mark.redis
async def test_the_burst_command_exits_0_after_draining(
    real_redis_url: str, sql_url: str, sql_engine: AsyncEngine, namespace: str
) -> None:
    settings = Settings(database_url=sql_url, redis_url=real_redis_url, namespace=namespace)
    redis = connect(settings)
    uid = await sql_user(sql_engine, 53)
    await hot_user(redis, settings.keys, 53, uid, xp=30, version=4)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTSTORE_", "REDIS_URL", "DATABASE_URL"))}
    env.update(REDIS_URL=real_redis_url, DATABASE_URL=sql_url, HOTSTORE_NAMESPACE=namespace)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "hotstore", "worker", "--burst", cwd=ROOT,
                                                env=env, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.DEVNULL)
    try:
        code = await asyncio.wait_for(proc.wait(), HANG_GUARD_S)
    except TimeoutError:
        proc.kill()
        code = await proc.wait()
    finally:
        await redis.delete(settings.keys.user(53), settings.keys.user_dirty_set(53))
        await redis.aclose()
    row = await sql_user_row(sql_engine, 53)
    assert code == 0
    assert row is not None and row.total_xp == 30
