"""``hotstore status`` shows Redis's policy, memory and persistence; ``--check`` fails on an evicting policy.

The end-to-end tests start their own redis-server (fixture ``private_redis``).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from hotstore import Settings
from hotstore.cli.main import main
from hotstore.cli.operations import status_async
from hotstore.cli.tables import redis_line, status_view
from hotstore.cli.views import check_status
from tests.support.redis_server import RedisServer

PrivateRedis = Callable[..., RedisServer]
FLUSHED = {"metrics": {"last_flush_at": 1_000_000}}


def test_status_check_fails_on_an_allkeys_policy_naming_the_fix() -> None:
    healthy, reason = check_status({**FLUSHED, "redis": {"maxmemory_policy": "allkeys-lru"}}, max_age=60, now=1_030)
    assert not healthy
    assert "maxmemory-policy is allkeys-lru" in reason and "CONFIG SET maxmemory-policy noeviction" in reason


@pytest.mark.parametrize("policy", ["noeviction", "volatile-lru", None])
def test_status_check_passes_on_a_policy_that_cannot_evict_dirty_data(policy: str | None) -> None:
    healthy, _ = check_status({**FLUSHED, "redis": {"maxmemory_policy": policy}}, max_age=60, now=1_030)
    assert healthy


def rendered(renderable: object) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def test_the_status_table_has_one_redis_row() -> None:
    redis = {"maxmemory_policy": "noeviction", "used_memory": 2**20, "maxmemory": 4 * 2**20, "persistence": "aof"}
    line = redis_line(redis)
    assert line == "policy noeviction, memory 1.0 MiB of 4.0 MiB (25%), persistence aof"
    text = rendered(status_view({"namespace": "hs", "redis": redis}, healthy=True, reason="ok"))
    assert [row for row in text.splitlines() if line in row and "redis" in row]


def test_the_status_says_when_redis_would_not_tell() -> None:
    redis = {"maxmemory_policy": None, "used_memory": None, "maxmemory": None, "persistence": None}
    assert redis_line(redis) == "policy ?, memory ? of no limit, persistence ?"


def test_the_status_marks_an_evicting_policy_unsafe() -> None:
    assert "UNSAFE" in redis_line({"maxmemory_policy": "allkeys-lru"})


async def test_status_reports_policy_memory_and_persistence_of_the_server(
    private_redis: PrivateRedis, tmp_path: Path, namespace: str
) -> None:
    server = private_redis("--maxmemory", "32mb", "--maxmemory-policy", "volatile-lru", "--appendonly", "yes")
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 's.db'}", redis_url=server.url,
                        namespace=namespace)

    info = await status_async(settings)

    redis = info["redis"]
    assert (redis["maxmemory_policy"], redis["maxmemory"], redis["persistence"]) == ("volatile-lru", 32 * 2**20, "aof")
    assert redis["used_memory"] > 0


def test_status_check_on_an_allkeys_lru_server_exits_1(
    private_redis: PrivateRedis, tmp_path: Path, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    server = private_redis("--maxmemory-policy", "allkeys-lru")
    flags = ["--redis-url", server.url, "--database-url", f"sqlite:///{tmp_path / 's.db'}", "--namespace", namespace]

    status = main([*flags, "status", "--check"])

    assert status == 1
    assert "UNHEALTHY: Redis maxmemory-policy is allkeys-lru" in capsys.readouterr().err
