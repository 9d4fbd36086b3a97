"""``hotstore demo`` ends with SQL equal to Redis: on the embedded defaults (in-process worker), and on real Redis
and PostgreSQL with two separate ``hotstore worker`` processes doing the write-behind."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from hotstore.cli.demo.run import demo_settings
from hotstore.cli.demo.verify import Verdict
from hotstore.core.settings import Settings
from tests.support.servers import REDIS_ENV, PostgresDatabase, real_server_url, reset_postgres_schema

HOTSTORE = str(Path(sys.executable).with_name("hotstore"))
CONFIG_VARIABLES = ("DATABASE_URL", "REDIS_URL", "BOT_NAME", "HOTSTORE_NAMESPACE", "HOTSTORE_ARQ_REDIS_URL")
LIVE_LINE = re.compile(r"^\[\s*(\d+) msgs .*flushed (\d+) rows")


def clean_environment(**variables: str) -> dict[str, str]:
    """This process's environment without any hotstore configuration, plus ``variables``."""
    env = {name: value for name, value in os.environ.items() if name not in CONFIG_VARIABLES}
    return {**env, **variables}


def hotstore(*argv: str, cwd: Path, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HOTSTORE, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


# ---------------------------------------------------------------- embedded defaults


@pytest.fixture(scope="module")
def embedded_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    cwd = tmp_path_factory.mktemp("demo")
    done = hotstore("demo", "--duration", "3", "--users", "200", "--seed", "7", cwd=cwd, env=clean_environment())
    return done, cwd


def test_demo_on_embedded_defaults_exits_zero_with_an_ok_verdict(
    embedded_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, _ = embedded_run
    assert done.returncode == 0, done.stdout + done.stderr
    verdict = done.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"VERDICT: OK — SQL equals Redis \(\d+ users, \d+ sessions checked\)", verdict)


def test_demo_on_embedded_defaults_uses_its_own_sqlite_file(
    embedded_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, cwd = embedded_run
    assert (cwd / "hotstore-demo.db").is_file()
    assert "embedded fakeredis" in done.stdout


def test_demo_without_a_terminal_prints_plain_progress_lines(
    embedded_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, _ = embedded_run
    live = [LIVE_LINE.match(line) for line in done.stdout.splitlines()]
    counts = [int(match.group(1)) for match in live if match]
    assert len(counts) >= 2
    assert counts[-1] > 0
    assert "\x1b[" not in done.stdout


def test_demo_rejects_an_external_worker_without_a_real_redis(tmp_path: Path) -> None:
    done = hotstore("demo", "--worker", "external", "--duration", "1", cwd=tmp_path, env=clean_environment())
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "hotstore demo: error: --worker external needs a real Redis (REDIS_URL): the embedded one is in-process"
    )


def test_demo_recreates_its_sqlite_file_in_the_working_directory(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("hotstore-demo.db", "hotstore-demo.db-wal"):
        (tmp_path / name).write_text("left over from an earlier run")
    settings = demo_settings(Settings(), explicit_database=False)
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'hotstore-demo.db'}"
    assert list(tmp_path.iterdir()) == []


def test_demo_keeps_an_explicit_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    given = Settings(database_url="postgresql://db/x")
    assert demo_settings(given, explicit_database=True).database_url == "postgresql+asyncpg://db/x"


def test_a_failed_verdict_lists_the_differences_and_is_not_ok() -> None:
    verdict = Verdict(users=2, sessions=3, differences=["user 5 total_xp: SQL 10 != Redis 12"])
    assert not verdict.ok
    assert verdict.render().splitlines() == [
        "VERDICT: FAILED — 1 differences between SQL and Redis (2 users, 3 sessions checked)",
        "  user 5 total_xp: SQL 10 != Redis 12",
    ]


# ---------------------------------------------------------------- real servers, two worker processes


@dataclass
class RealRun:
    demo: subprocess.CompletedProcess[str]
    status: subprocess.CompletedProcess[str]
    worker_logs: list[str]


def _delete_namespace(redis_url: str, namespace: str) -> None:
    async def delete() -> None:
        client = aioredis.Redis.from_url(redis_url)
        async for key in client.scan_iter(match=f"*{namespace}*", count=1000):
            await client.delete(key)
        await client.aclose()

    asyncio.run(delete())


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
def real_run(tmp_path_factory: pytest.TempPathFactory, postgres_database: PostgresDatabase) -> Iterator[RealRun]:
    """Schema by ``hotstore db upgrade``, two ``hotstore worker`` processes, then the demo (external worker)."""
    redis_url = real_server_url(REDIS_ENV, "Redis")
    reset_postgres_schema(postgres_database.url)
    cwd = tmp_path_factory.mktemp("demo-real")
    env = clean_environment(REDIS_URL=redis_url, DATABASE_URL=postgres_database.url,
                            HOTSTORE_NAMESPACE=f"demo{uuid.uuid4().hex[:10]}")
    upgraded = hotstore("db", "upgrade", cwd=cwd, env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    workers = [subprocess.Popen([HOTSTORE, "worker"], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        demo = hotstore("demo", "--duration", "4", "--users", "200", "--seed", "11", cwd=cwd, env=env)
        status = hotstore("status", "--check", cwd=cwd, env=env)
    finally:
        logs = _stop(workers)
        _delete_namespace(redis_url, env["HOTSTORE_NAMESPACE"])
    yield RealRun(demo, status, logs)


@pytest.mark.redis
@pytest.mark.postgres
def test_demo_with_two_worker_processes_ends_with_sql_equal_to_redis(real_run: RealRun) -> None:
    assert real_run.demo.returncode == 0, real_run.demo.stdout + real_run.demo.stderr
    assert real_run.demo.stdout.strip().splitlines()[-1].startswith("VERDICT: OK — SQL equals Redis")
    assert "worker external" in real_run.demo.stdout


@pytest.mark.redis
@pytest.mark.postgres
def test_the_worker_processes_flush_while_the_demo_runs(real_run: RealRun) -> None:
    lines = real_run.demo.stdout.split("draining:")[0].splitlines()
    flushed = [int(match.group(2)) for match in map(LIVE_LINE.match, lines) if match]
    assert max(flushed, default=0) > 0, real_run.demo.stdout


@pytest.mark.redis
@pytest.mark.postgres
def test_status_check_is_healthy_while_workers_run(real_run: RealRun) -> None:
    assert real_run.status.returncode == 0, real_run.status.stdout + real_run.status.stderr
    assert real_run.status.stdout.startswith("healthy: last flush")


@pytest.mark.redis
@pytest.mark.postgres
def test_worker_processes_stop_cleanly_on_sigterm(real_run: RealRun) -> None:
    assert all("Traceback" not in log for log in real_run.worker_logs), real_run.worker_logs
