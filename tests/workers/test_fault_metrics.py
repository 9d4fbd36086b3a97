"""Fault test: a running worker's /metrics and /healthz during a load, while PostgreSQL is cut and restored.

One ``python -m arq workers.WorkerSettings`` process serves its metrics port (``HOTSTORE_METRICS_PORT``) and
reaches PostgreSQL through a TCP proxy. The test scrapes ``/metrics`` with Prometheus's own text parser while the
load generator writes: the backlog must rise while SQL is cut and fall back to 0 afterwards, rows-flushed must
grow, and ``/healthz`` must go 200 → 503 (no good flush within the bound) → 200 as SQL goes away and comes back.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.cli.operations import flush_all_async
from hotstore.core.settings import Settings
from tests.support.faults import TcpProxy, WorkerFleet, compare_with_sql, start_loadgen, worker_env

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]

USERS = 3000
LOAD_SECONDS = 25.0
HEALTH_MAX_AGE_S = 3.0
SCRAPE_EVERY_S = 0.5
PHASE_TIMEOUT_S = 45.0

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(port: int) -> Samples | None:
    """Every sample of the worker's /metrics, parsed by prometheus_client's parser; None while it is not up."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def healthz(port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def backlog(samples: Samples) -> float:
    return sum(v for (name, _), v in samples.items() if name == "hotstore_dirty_entities")


def rows_flushed(samples: Samples) -> float:
    return sum(v for (name, _), v in samples.items() if name == "hotstore_flush_rows_total")


@dataclass
class Watcher:
    """What the test saw: each scrape's backlog and rows flushed, and the /healthz answers in order."""

    port: int
    backlogs: list[float] = field(default_factory=list)
    rows: list[float] = field(default_factory=list)
    health: list[int | None] = field(default_factory=list)
    last: Samples = field(default_factory=dict)

    async def look(self) -> None:
        samples = await asyncio.to_thread(scrape, self.port)
        status = await asyncio.to_thread(healthz, self.port)
        if samples is not None:
            self.last = samples
            self.backlogs.append(backlog(samples))
            self.rows.append(rows_flushed(samples))
        if not self.health or self.health[-1] != status:
            self.health.append(status)

    async def until(self, done: Callable[[Watcher], bool], what: str) -> None:
        deadline = time.monotonic() + PHASE_TIMEOUT_S
        while time.monotonic() < deadline:
            await self.look()
            if done(self):
                return
            await asyncio.sleep(SCRAPE_EVERY_S)
        raise AssertionError(f"timed out waiting for {what}; health seen {self.health}, backlogs {self.backlogs[-5:]}")


async def test_metrics_and_healthz_follow_the_worker_through_a_sql_outage(
    pg_engine: AsyncEngine,
    pg_url: str,
    real_redis: aioredis.Redis,
    real_redis_url: str,
    namespace: str,
    tmp_path: Path,
    report_figures: Callable[[str], None],
) -> None:
    target = make_url(pg_url)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    await proxy.start()
    proxied = target.set(port=proxy.port).render_as_string(hide_password=False)
    port = free_port()
    env = worker_env(real_redis_url, proxied, namespace, HOTSTORE_METRICS_PORT=str(port),
                     HOTSTORE_METRICS_HOST="127.0.0.1", HOTSTORE_HEALTH_MAX_AGE=str(HEALTH_MAX_AGE_S))
    fleet = WorkerFleet(env, tmp_path, size=1)
    out = tmp_path / "expected.json"
    watcher = Watcher(port)
    loadgen = start_loadgen(real_redis_url, pg_url, namespace, USERS, LOAD_SECONDS, out)
    fleet.start()
    try:
        await watcher.until(lambda w: bool(w.rows) and w.rows[-1] > 0 and w.health[-1] == 200, "first flushes")
        rows_before_outage = watcher.rows[-1]
        await proxy.stop()
        at_cut = watcher.backlogs[-1]
        await watcher.until(lambda w: w.health[-1] == 503, "/healthz 503 with SQL cut")
        during_outage = max(watcher.backlogs[watcher.backlogs.index(at_cut):])
        await proxy.start()
        await watcher.until(lambda w: w.health[-1] == 200, "/healthz 200 after SQL is back")
        await asyncio.to_thread(loadgen.wait)
        await watcher.until(lambda w: w.backlogs[-1] == 0, "the backlog back to 0")
    finally:
        fleet.stop()
        await proxy.stop()
        if loadgen.poll() is None:
            loadgen.kill()
            loadgen.wait()

    settings = Settings(database_url=pg_url, redis_url=real_redis_url, namespace=namespace)
    assert await flush_all_async(settings) == 0
    expected = json.loads(out.read_text())
    _, mismatches = await compare_with_sql(pg_engine, expected)
    outages = watcher.last[("hotstore_flush_failures_total", (("kind", "outage"),))]
    report_figures(
        f"scrapes={len(watcher.backlogs)} backlog_at_cut={at_cut:.0f} backlog_peak={during_outage:.0f} "
        f"rows_flushed={watcher.rows[-1]:.0f} outage_failures={outages:.0f} health={watcher.health}"
    )
    assert expected["errors"] == []
    assert during_outage > at_cut  # the backlog rose while nothing could be flushed
    assert watcher.backlogs[-1] == 0  # and fell back to 0 once SQL was back
    assert watcher.rows[-1] > rows_before_outage > 0  # rows-flushed grew, across the outage
    assert watcher.health[watcher.health.index(503):][-1] == 200 and 200 in watcher.health[:watcher.health.index(503)]
    assert outages >= 1
    assert mismatches == []
