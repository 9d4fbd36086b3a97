"""Fault test: worker processes SIGKILLed at random moments under load lose and duplicate nothing.

A load-generator process writes through HotStore (XP and session patches, thousands of users, three bots)
while two ``python -m arq workers.WorkerSettings`` processes flush; one of them is killed with SIGKILL
every ~1–2 s and replaced. Afterwards ``flush_all`` drains the rest and SQL must equal, for every user and
session, what the load generator was told it wrote.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.cli.operations import flush_all_async
from hotstore.core import constants as c
from hotstore.core.cluster import RedisClient
from hotstore.core.settings import Settings
from hotstore.writebehind.metrics import read_metrics
from tests.support.cluster import FaultRedis
from tests.support.faults import WorkerFleet, compare_with_sql, start_loadgen, worker_env

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]

USERS = 3000
LOAD_SECONDS = 45.0
MIN_KILLS = 20


async def test_sigkilled_workers_lose_no_update(
    pg_engine: AsyncEngine,
    pg_url: str,
    fault_redis: FaultRedis,
    fault_redis_client: RedisClient,
    namespace: str,
    tmp_path: Path,
    report_figures: Callable[[str], None],
) -> None:
    db_url = pg_url
    out = tmp_path / "expected.json"
    fleet = WorkerFleet(worker_env(fault_redis.url, db_url, namespace, **fault_redis.worker_env), tmp_path)
    rng = random.Random(4)
    loadgen = start_loadgen(fault_redis.url, db_url, namespace, USERS, LOAD_SECONDS, out)
    fleet.start()
    try:
        while loadgen.poll() is None:
            await asyncio.sleep(rng.uniform(0.8, 2.0))
            fleet.kill_one(rng)
    finally:
        fleet.stop()  # SIGKILL the last ones too
        if loadgen.poll() is None:
            loadgen.kill()
            loadgen.wait()
    settings = Settings(database_url=db_url, redis_url=fault_redis.url, namespace=namespace)
    metrics = await read_metrics(fault_redis_client, settings.keys)

    assert await flush_all_async(settings) == 0
    expected = json.loads(out.read_text())
    checked, mismatches = await compare_with_sql(pg_engine, expected)

    report_figures(
        f"kills={fleet.kills} updates_checked={checked} users={len(expected['xp'])} "
        f"sessions={len(expected['sessions'])} rows_flushed_by_workers={metrics[c.METRIC_ROWS_FLUSHED]}"
    )
    assert expected["errors"] == []
    assert fleet.kills >= MIN_KILLS
    assert metrics[c.METRIC_ROWS_FLUSHED] > 0  # the killed workers did flush between kills
    assert mismatches == []
