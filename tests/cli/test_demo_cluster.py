"""``hotstore demo`` on a local 3-master Redis Cluster, with two ``hotstore worker`` processes: SQL ends equal to
Redis. arq's queue lives on a standalone Redis beside the cluster (``HOTSTORE_ARQ_REDIS_URL``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hotstore.core.keys import KeyScheme
from tests.support.cluster import LocalCluster
from tests.support.redis_server import RedisServer
from tests.support.servers import PostgresDatabase, reset_postgres_schema

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]

HOTSTORE = str(Path(sys.executable).with_name("hotstore"))
CONFIG_VARIABLES = ("DATABASE_URL", "REDIS_URL", "BOT_NAME", "HOTSTORE_NAMESPACE", "HOTSTORE_ARQ_REDIS_URL")


@dataclass
class ClusterRun:
    demo: subprocess.CompletedProcess[str]
    worker_logs: list[str]
    keys_per_master: list[int]


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HOTSTORE, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=180,
                          check=False)


def _stop(workers: list[subprocess.Popen[str]]) -> list[str]:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    logs = []
    for worker in workers:
        try:
            _, err = worker.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            _, err = worker.communicate()
        logs.append(err)
    return logs


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory: pytest.TempPathFactory, redis_cluster: LocalCluster,
                postgres_database: PostgresDatabase) -> Iterator[ClusterRun]:
    """Schema by ``hotstore db upgrade``, two workers (arq on a standalone Redis), then the demo on the cluster."""
    reset_postgres_schema(postgres_database.url)
    cwd = tmp_path_factory.mktemp("demo-cluster")
    arq = RedisServer(cwd / "arq")
    arq.directory.mkdir()
    arq.start()
    env = {name: value for name, value in os.environ.items() if name not in CONFIG_VARIABLES}
    namespace = f"demo{uuid.uuid4().hex[:10]}"
    env.update(REDIS_URL=redis_cluster.urls()[1], DATABASE_URL=postgres_database.url, HOTSTORE_ARQ_REDIS_URL=arq.url,
               HOTSTORE_NAMESPACE=namespace)
    try:
        upgraded = _run(["db", "upgrade"], cwd, env)
        assert upgraded.returncode == 0, upgraded.stderr
        workers = [subprocess.Popen([HOTSTORE, "worker"], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True) for _ in range(2)]
        try:
            demo = _run(["demo", "--duration", "4", "--users", "200", "--seed", "13"], cwd, env)
        finally:
            logs = _stop(workers)
        counts = redis_cluster.keys_per_master(KeyScheme(namespace).namespace_pattern)
    finally:
        arq.stop()
    yield ClusterRun(demo, logs, counts)


def test_demo_on_the_cluster_with_two_workers_ends_with_sql_equal_to_redis(cluster_run: ClusterRun) -> None:
    assert cluster_run.demo.returncode == 0, cluster_run.demo.stdout + cluster_run.demo.stderr
    assert cluster_run.demo.stdout.strip().splitlines()[-1].startswith("VERDICT: OK — SQL equals Redis")
    assert "worker external" in cluster_run.demo.stdout


def test_the_workers_on_the_cluster_stop_without_a_traceback(
    cluster_run: ClusterRun, report_figures: Callable[[str], None]
) -> None:
    report_figures(f"keys per master after the demo: {cluster_run.keys_per_master}")
    assert all("Traceback" not in log for log in cluster_run.worker_logs), cluster_run.worker_logs


def test_the_demo_namespace_spreads_over_every_master(cluster_run: ClusterRun) -> None:
    """The sharded layout: each of the 3 masters holds at least 15% of the demo's keys."""
    total = sum(cluster_run.keys_per_master)
    assert total > 100, cluster_run.keys_per_master
    assert all(count >= 0.15 * total for count in cluster_run.keys_per_master), cluster_run.keys_per_master
