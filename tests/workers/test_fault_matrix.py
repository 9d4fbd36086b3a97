"""The fault matrix, part C: worker kills and freezes, PostgreSQL outages and partitions, Redis outages and
restarts, and the v4 lifecycle patterns. Each row reports one line (tests/support/fault_rows.py) and asserts that
nothing acknowledged is lost and that callers saw only typed errors; the README's fault table is filled from
these lines. Sibling modules (test_fault_matrix_*.py) add rows in the same format.

Load: a load-generator process (tests/support/faults.py) adds XP and patches sessions for USERS users in three
bots for LOAD_S seconds; workers are ``hotstore worker`` processes. The Redis restart rows run a redis-server
of their own (tests/support/redis_server.py); PostgreSQL and Redis are cut through a TCP proxy the test controls.
Each row takes well under a minute. The lifecycle rows need no server: they run on the embedded default.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core import constants as c
from hotstore.core.keys import KeyScheme
from hotstore.core.settings import Settings
from hotstore.core.store import HotStore
from hotstore.writebehind.metrics import read_metrics
from tests.support.fault_rows import (
    RowFigures,
    dirty_total,
    row_figures,
    sessions_behind,
    sql_xp,
    wait_until_clean,
)
from tests.support.faults import HOTSTORE_WORKER, TcpProxy, WorkerFleet, compare_with_sql, start_loadgen, worker_env
from tests.support.lifecycle import PATTERNS, XP_TOTAL, run_pattern
from tests.support.own_redis import OwnRedis

USERS = 1000
LOAD_S = 15.0  # the faults start once load and workers are going (_until_flowing)
REDIS_OUTAGE_S = 5.0
SQL_FAULT_S = 6.0
WORKER_SQL_TIMEOUT = "2"  # HOTSTORE_SQL_TIMEOUT of the workers: a partition costs a flush at most this long
FREEZE_WAIT_S = 20.0
FLOWING_WAIT_S = 30.0



def real_servers(test: Callable[..., Any]) -> Callable[..., Any]:
    """Marks of a row that needs the real Redis and PostgreSQL (a slow fault test)."""
    for mark in (pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres):
        test = mark(test)
    return test


def _reap(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _fleet(redis_url: str, db_url: str, namespace: str, logs: Path, size: int = 2) -> WorkerFleet:
    env = worker_env(redis_url, db_url, namespace, HOTSTORE_SQL_TIMEOUT=WORKER_SQL_TIMEOUT)
    return WorkerFleet(env, logs, size=size, command=HOTSTORE_WORKER)


async def _figures(name: str, engine: AsyncEngine, redis: aioredis.Redis, keys: KeyScheme,
                   out: Path) -> tuple[RowFigures, dict[str, Any]]:
    expected = json.loads(await asyncio.to_thread(out.read_text))
    return await row_figures(name, engine, redis, keys, expected), expected


async def _until_flowing(redis: aioredis.Redis, keys: KeyScheme) -> None:
    """Wait until the load is flowing and a worker has flushed rows of it, so that the fault hits a running
    system (not processes still starting); then wait until something is dirty again."""
    deadline = time.monotonic() + FLOWING_WAIT_S
    while time.monotonic() < deadline:
        if (await read_metrics(redis, keys))[c.METRIC_ROWS_FLUSHED] > 0 and await dirty_total(redis, keys) > 0:
            return
        await asyncio.sleep(0.05)
    pytest.fail("the load and the workers did not get going")


def _assert_nothing_lost(figures: RowFigures, drained: bool) -> None:
    assert drained  # the workers drained by themselves after the fault
    assert figures.lost == 0
    assert figures.untyped_errors == []


# ---------------------------------------------------------------- worker faults


@real_servers
async def test_row_sigkilled_workers_lose_nothing(
    pg_engine: AsyncEngine, pg_url: str, real_redis: aioredis.Redis, real_redis_url: str,
    namespace: str, tmp_path: Path, report_figures: Callable[[str], None],
) -> None:
    keys, out, rng = KeyScheme(namespace), tmp_path / "expected.json", random.Random(12)
    fleet = _fleet(real_redis_url, pg_url, namespace, tmp_path)
    loadgen = start_loadgen(real_redis_url, pg_url, namespace, USERS, LOAD_S, out)
    fleet.start()
    try:
        while loadgen.poll() is None:
            await asyncio.sleep(rng.uniform(0.8, 2.0))
            fleet.kill_one(rng)
        drained = await wait_until_clean(real_redis, keys)
    finally:
        fleet.stop()
        _reap(loadgen)
    figures, expected = await _figures("sigkill_worker", pg_engine, real_redis, keys, out)
    report_figures(f"{figures.line()} kills={fleet.kills}")
    _assert_nothing_lost(figures, drained)
    assert figures.errors == {}
    assert (await compare_with_sql(pg_engine, expected))[1] == []  # sessions too, field by field


async def _freeze_lease_holder(proc: subprocess.Popen[bytes], redis: aioredis.Redis, keys: KeyScheme) -> bool:
    """SIGSTOP ``proc`` (the only worker) while it holds the shard leases; True once done."""
    deadline = time.monotonic() + FREEZE_WAIT_S
    while time.monotonic() < deadline:
        if await redis.exists(keys.shard_lease(0)):
            os.kill(proc.pid, signal.SIGSTOP)
            if await redis.exists(keys.shard_lease(0)):  # still held: the frozen worker holds it
                return True
            os.kill(proc.pid, signal.SIGCONT)  # it released it just before the signal: try again
        await asyncio.sleep(0.002)
    return False


@real_servers
async def test_row_a_frozen_lease_holder_is_taken_over(
    pg_engine: AsyncEngine, pg_url: str, real_redis: aioredis.Redis, real_redis_url: str,
    namespace: str, tmp_path: Path, report_figures: Callable[[str], None],
) -> None:
    keys, out = KeyScheme(namespace), tmp_path / "expected.json"
    fleet = _fleet(real_redis_url, pg_url, namespace, tmp_path, size=1)
    loadgen = start_loadgen(real_redis_url, pg_url, namespace, USERS, LOAD_S, out)
    fleet.start()
    try:
        frozen = await _freeze_lease_holder(fleet.procs[0], real_redis, keys)
        fleet.add()  # the other worker: it must take over once the frozen one's lease expires
        await asyncio.to_thread(loadgen.wait)
        drained = await wait_until_clean(real_redis, keys)  # the lease holder is still frozen here
    finally:
        fleet.stop()
        _reap(loadgen)
    figures, expected = await _figures("sigstop_lease_holder", pg_engine, real_redis, keys, out)
    report_figures(figures.line())
    assert frozen
    _assert_nothing_lost(figures, drained)
    assert figures.errors == {}
    assert (await compare_with_sql(pg_engine, expected))[1] == []


# ---------------------------------------------------------------- PostgreSQL faults


@real_servers
@pytest.mark.parametrize("row", ["postgres_outage", "postgres_partition"])
async def test_row_postgres_cut_from_the_workers_loses_nothing(
    row: str, pg_engine: AsyncEngine, pg_url: str, real_redis: aioredis.Redis, real_redis_url: str,
    namespace: str, tmp_path: Path, report_figures: Callable[[str], None],
) -> None:
    """An outage refuses the workers' connections; a partition accepts and stalls them (a blackhole)."""
    target = make_url(pg_url)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    await proxy.start()
    proxied = target.set(port=proxy.port).render_as_string(hide_password=False)
    keys, out = KeyScheme(namespace), tmp_path / "expected.json"
    fleet = _fleet(real_redis_url, proxied, namespace, tmp_path)
    loadgen = start_loadgen(real_redis_url, pg_url, namespace, USERS, LOAD_S, out)
    fleet.start()
    try:
        await _until_flowing(real_redis, keys)
        await proxy.stop() if row == "postgres_outage" else proxy.partition()
        await asyncio.sleep(SQL_FAULT_S)
        await proxy.start() if row == "postgres_outage" else proxy.heal()
        await asyncio.to_thread(loadgen.wait)
        drained = await wait_until_clean(real_redis, keys)
        alive = fleet.alive()
    finally:
        fleet.stop()
        await proxy.stop()
        _reap(loadgen)
    figures, expected = await _figures(row, pg_engine, real_redis, keys, out)
    logs = fleet.log_text()
    report_figures(f"{figures.line()} outage_logs={logs.count('flush failing')} "
                   f"recovery_logs={logs.count('flush recovered')}")
    _assert_nothing_lost(figures, drained)
    assert figures.errors == {}  # the hot path never reached the workers' SQL
    assert alive == fleet.size
    assert logs.count("flush recovered") >= 1
    assert (await compare_with_sql(pg_engine, expected))[1] == []


# ---------------------------------------------------------------- Redis faults


@real_servers
async def test_row_a_5s_redis_outage_is_survived_by_the_workers(
    pg_engine: AsyncEngine, pg_url: str, real_redis: aioredis.Redis, real_redis_url: str,
    namespace: str, tmp_path: Path, report_figures: Callable[[str], None],
) -> None:
    """Workers and bots reach Redis through a proxy that refuses every connection for 5 s."""
    target = urlsplit(real_redis_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 6379)
    await proxy.start()
    proxied = target._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()
    keys, out = KeyScheme(namespace), tmp_path / "expected.json"
    fleet = _fleet(proxied, pg_url, namespace, tmp_path)
    loadgen = start_loadgen(proxied, pg_url, namespace, USERS, LOAD_S, out)
    fleet.start()
    try:
        await _until_flowing(real_redis, keys)
        await proxy.stop()
        await asyncio.sleep(REDIS_OUTAGE_S)
        await proxy.start()
        await asyncio.to_thread(loadgen.wait)
        drained = await wait_until_clean(real_redis, keys)
        alive = fleet.alive()
    finally:
        fleet.stop()
        await proxy.stop()
        _reap(loadgen)
    figures, _ = await _figures("redis_outage_5s", pg_engine, real_redis, keys, out)
    logs = fleet.log_text()
    report_figures(f"{figures.line()} workers_alive={alive}/{fleet.size} "
                   f"outage_logs={logs.count('main loop (arq') // 2}")
    assert alive == fleet.size  # no worker exited on the outage
    _assert_nothing_lost(figures, drained)


async def _served_unlike_sql(redis_url: str, pg_url: str, namespace: str, engine: AsyncEngine) -> int:
    """How many users the store serves with a total XP other than what SQL holds."""
    held = await sql_xp(engine)
    settings = Settings(redis_url=redis_url, database_url=pg_url, namespace=namespace)
    async with await HotStore.open(settings) as store:
        served = [await store.get_user(tg) for tg in held]
    return sum(user is None or user.total_xp != held[user.telegram_id] for user in served)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("aof", [True, False], ids=["aof_everysec", "no_persistence"])
async def test_row_a_redis_restart(
    aof: bool, pg_engine: AsyncEngine, pg_url: str, namespace: str, tmp_path: Path,
    report_figures: Callable[[str], None],
) -> None:
    """A redis-server of the test's own is SIGKILLed under load and restarted on the same port. With AOF it comes
    back with everything acknowledged; without persistence the hot state is gone: what was flushed is read back
    from SQL, what was not is lost (Redis's durability, stated in the README)."""
    (tmp_path / "redis").mkdir()
    server = OwnRedis(tmp_path / "redis", aof=aof)
    server.start()
    keys, out = KeyScheme(namespace), tmp_path / "expected.json"
    fleet = _fleet(server.url, pg_url, namespace, tmp_path)
    loadgen = start_loadgen(server.url, pg_url, namespace, USERS, LOAD_S, out)
    fleet.start()
    client = aioredis.Redis.from_url(server.url)
    try:
        await _until_flowing(client, keys)
        dirty_at_crash = await dirty_total(client, keys)  # roughly what a crash without persistence loses
        server.crash()
        await asyncio.sleep(1.0)
        await asyncio.to_thread(server.restart)
        await asyncio.to_thread(loadgen.wait)
        drained = await wait_until_clean(client, keys)
        alive = fleet.alive()
        figures, expected = await _figures(f"redis_restart_{'aof_everysec' if aof else 'no_persistence'}",
                                           pg_engine, client, keys, out)
        behind = await sessions_behind(pg_engine, expected)
        unlike_sql = await _served_unlike_sql(server.url, pg_url, namespace, pg_engine)
    finally:
        fleet.stop()
        _reap(loadgen)
        await client.aclose()
        server.crash()
    report_figures(f"{figures.line()} dirty_at_crash={dirty_at_crash} served_unlike_sql={unlike_sql} "
                   f"sessions_behind={behind}")
    assert drained and alive == fleet.size
    assert figures.untyped_errors == []
    assert unlike_sql == 0  # after recovery Redis serves what SQL holds
    if aof:
        assert figures.lost == 0
        assert behind == 0


# ---------------------------------------------------------------- the v4 lifecycle


_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Unavailable|Input))\b", re.MULTILINE)


@pytest.mark.parametrize("pattern", sorted(PATTERNS))
def test_row_a_lifecycle_pattern_loses_nothing(
    pattern: str, tmp_path: Path, report_figures: Callable[[str], None]
) -> None:
    """Each pattern as a real script on the embedded default (fakeredis in the process, SQLite)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTSTORE_", "REDIS_URL", "DATABASE_URL",
                                                                      "BOT_NAME"))}
    run = run_pattern(pattern, tmp_path, env)
    errors = Counter(match.split(".")[-1] for match in _ERROR_LINE.findall(run.stderr))
    figures = RowFigures(f"lifecycle_{pattern}", XP_TOTAL, run.sql_xp, "embedded:gone_with_the_process",
                         max(0, XP_TOTAL - run.sql_xp), errors)
    report_figures(figures.line())
    assert run.returncode == 0, run.stderr
    assert "different event loop" not in run.stderr
    assert figures.errors == {}
    assert figures.lost == 0
    if pattern == "exit_without_close_db":
        assert "close_db() was not called" in run.stderr  # the at-exit drain warns
