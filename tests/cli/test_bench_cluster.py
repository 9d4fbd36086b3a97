"""``python -m hotstore.cli.bench.cluster`` in a tiny smoke run on the local Redis Cluster: it prints the flush
rows/s per worker count and the leaderboard p50/p99, and leaves no key behind (figures are not checked)."""

from __future__ import annotations

import re

import pytest

from hotstore.cli.bench.cluster import main
from tests.support.cluster import LocalCluster
from tests.support.servers import POSTGRES_ENV, real_server_url

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]


def test_the_cluster_benchmark_prints_flush_rates_and_board_percentiles(
    redis_cluster: LocalCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    admin_url = real_server_url(POSTGRES_ENV, "PostgreSQL")
    before = sum(redis_cluster.keys_per_master())
    assert main(["--redis-url", redis_cluster.url, "--admin-url", admin_url, "--users", "50", "--workers", "1,2",
                 "--board-users", "200", "--board-calls", "5"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [re.match(r"flush 50 users with (\d) worker", line).group(1) for line in out[:2]] == ["1", "2"]  # type: ignore[union-attr]
    assert all(re.search(r"p50 [\d.]+ ms, p99 [\d.]+ ms", line) for line in out[2:5])
    assert sum(redis_cluster.keys_per_master()) == before
