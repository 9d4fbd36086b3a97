"""Fault test: PostgreSQL unreachable for the workers during part of the run.

The workers reach PostgreSQL through a TCP proxy that the test stops (dropping every connection) and
starts again; the load generator's hot path keeps its own connection. The hot path must see no error,
the workers must log the outage once and recover by themselves, and no update may be lost.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.cli.operations import flush_all_async
from hotstore.core import constants as c
from hotstore.core.cluster import RedisClient
from hotstore.core.settings import Settings
from hotstore.writebehind.flush import dirty_counts
from hotstore.writebehind.metrics import read_metrics
from tests.support.cluster import FaultRedis
from tests.support.faults import TcpProxy, WorkerFleet, compare_with_sql, start_loadgen, worker_env

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]

USERS = 2000
LOAD_SECONDS = 30.0
OUTAGE = (6.0, 18.0)  # seconds after the start: proxy down, then up again
RECOVERY_WAIT_S = 60.0


async def test_sql_outage_loses_nothing_and_never_reaches_the_hot_path(
    pg_engine: AsyncEngine,
    pg_url: str,
    fault_redis: FaultRedis,
    fault_redis_client: RedisClient,
    namespace: str,
    tmp_path: Path,
    report_figures: Callable[[str], None],
) -> None:
    target = make_url(pg_url)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    await proxy.start()
    proxied = target.set(port=proxy.port).render_as_string(hide_password=False)
    fleet = WorkerFleet(worker_env(fault_redis.url, proxied, namespace, **fault_redis.worker_env), tmp_path)
    out = tmp_path / "expected.json"
    settings = Settings(database_url=pg_url, redis_url=fault_redis.url, namespace=namespace)
    started = time.monotonic()
    loadgen = start_loadgen(fault_redis.url, pg_url, namespace, USERS, LOAD_SECONDS, out)
    fleet.start()
    try:
        await asyncio.sleep(OUTAGE[0])
        await proxy.stop()
        await asyncio.sleep(OUTAGE[1] - OUTAGE[0])
        dirty_during_outage = sum((await dirty_counts(fault_redis_client, settings.keys)).values())
        await proxy.start()
        await asyncio.to_thread(loadgen.wait)
        drained_by_workers = await _wait_until_clean(fault_redis_client, settings)
        metrics = await read_metrics(fault_redis_client, settings.keys)
    finally:
        fleet.stop()
        await proxy.stop()
        if loadgen.poll() is None:
            loadgen.kill()
            loadgen.wait()

    assert await flush_all_async(settings) == 0
    expected = json.loads(out.read_text())
    checked, mismatches = await compare_with_sql(pg_engine, expected)
    logs = fleet.log_text()
    report_figures(
        f"updates_checked={checked} dirty_during_outage={dirty_during_outage} "
        f"workers_drained_after_recovery={drained_by_workers} failures={metrics[c.METRIC_FAILURES]} "
        f"outage_logs={logs.count('flush failing')} recovery_logs={logs.count('flush recovered')} "
        f"run_s={time.monotonic() - started:.0f}"
    )
    assert expected["errors"] == []  # the hot path never saw the outage
    assert dirty_during_outage > 0
    assert drained_by_workers  # the workers recovered by themselves
    assert metrics[c.METRIC_FAILURES] >= 1
    assert 1 <= logs.count("flush failing") <= fleet.size  # once per outage per worker, not per attempt
    assert logs.count("flush recovered") >= 1
    assert mismatches == []


async def _wait_until_clean(redis: RedisClient, settings: Settings) -> bool:
    deadline = time.monotonic() + RECOVERY_WAIT_S
    while time.monotonic() < deadline:
        if sum((await dirty_counts(redis, settings.keys)).values()) == 0:
            return True
        await asyncio.sleep(0.5)
    return False
