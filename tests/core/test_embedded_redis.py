"""The embedded default's choice between a private redis-server child and fakeredis, and the child's life."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import fakeredis
import pytest

from hotstore import HotStore, Settings
from hotstore.compat import DatabaseService
from hotstore.core import embedded_redis
from hotstore.core.errors import InvalidInput
from hotstore.core.redis_client import connect
from persistence import close_db, init_db

needs_binary = pytest.mark.skipif(embedded_redis.server_binary() is None, reason="no redis-server on the PATH")


@pytest.fixture
def server_mode(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The embedded default switched to the private redis-server for this test; no child left behind."""
    monkeypatch.setenv("HOTSTORE_EMBEDDED_REDIS", "server")
    yield
    embedded_redis.stop()


def _removed(directory: str) -> bool:
    return not Path(directory).exists()


def test_auto_picks_the_server_when_the_binary_is_on_the_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: "/usr/bin/redis-server")
    assert Settings(embedded_redis_mode="auto").embedded_backend == "server"


def test_auto_falls_back_to_fakeredis_without_the_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert Settings(embedded_redis_mode="auto").embedded_backend == "fakeredis"


def test_the_suite_runs_the_embedded_default_on_fakeredis() -> None:
    assert isinstance(connect(Settings()), fakeredis.FakeAsyncRedis)


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(InvalidInput):
        Settings.from_env({"HOTSTORE_EMBEDDED_REDIS": "cluster"})


@needs_binary
async def test_a_store_without_redis_url_runs_on_a_private_server_that_close_stops(
    server_mode: None, tmp_path: Path
) -> None:
    store = await HotStore.open(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'e.db'}"))
    pid = embedded_redis.running_pid()
    assert pid is not None
    await store.bot("spin").add_xp(1, 10)
    assert (await store.get_user(1)) is not None
    directory = embedded_redis._server.directory if embedded_redis._server else ""
    await store.close()
    assert embedded_redis.running_pid() is None and not embedded_redis.pid_alive(pid)
    assert _removed(directory)


@needs_binary
async def test_the_private_server_persists_nothing(server_mode: None) -> None:
    client = connect(Settings())
    try:
        assert await client.config_get("save") == {"save": ""}
        assert await client.config_get("appendonly") == {"appendonly": "no"}
        assert (await client.config_get("bind"))["bind"] == "127.0.0.1"
    finally:
        await client.aclose()


@needs_binary
async def test_close_db_stops_the_private_server(
    server_mode: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'v4.db'}")
    monkeypatch.delenv("REDIS_URL", raising=False)
    await init_db()
    await DatabaseService("spin").get_user_session(5, "ann")
    pid = embedded_redis.running_pid()
    assert pid is not None
    await close_db()
    assert not embedded_redis.pid_alive(pid)


@needs_binary
def test_the_private_server_does_not_outlive_its_process(tmp_path: Path) -> None:
    program = (
        "import asyncio\n"
        "from hotstore import HotStore, Settings\n"
        "from hotstore.core import embedded_redis\n"
        "async def main():\n"
        f"    store = await HotStore.open(Settings(database_url='sqlite+aiosqlite:///{tmp_path / 'p.db'}'))\n"
        "    await store.bot('spin').get_session(1)\n"
        "    print(embedded_redis.running_pid(), flush=True)\n"  # and exit without closing the store
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "HOTSTORE_EMBEDDED_REDIS": "server"}
    done = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout.split()[-1])
    assert not embedded_redis.pid_alive(pid)
