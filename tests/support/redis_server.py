"""A private ``redis-server`` for one test: its own free loopback port, its own temp dir, stopped by its pid.

Tests that need a Redis configured in a way the shared server must not be (a small ``maxmemory``, an evicting
policy, a restart from an older snapshot, renamed commands) start one of these (fixture ``private_redis`` in
tests/conftest.py)::

    server = private_redis("--maxmemory-policy", "allkeys-lru")
    client = server.client()
    server.restart()            # same port and dir: loads dir/dump.rdb if there is one
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
import redis.asyncio as aioredis

from tests.support.servers import IN_CI

REDIS_SERVER = shutil.which("redis-server")
START_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    """One ``redis-server`` process this test started; ``options`` are extra command-line settings."""

    directory: Path
    options: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        assert REDIS_SERVER is not None
        return [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
                "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no",
                *self.options]

    def start(self) -> None:
        log = open(self.directory / "redis.log", "ab")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with redis.Redis(port=self.port, socket_timeout=1) as probe:
                    probe.ping()
                return
            except redis.exceptions.BusyLoadingError:
                pass
            except redis.exceptions.ConnectionError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited: {(self.directory / 'redis.log').read_text()}") from None
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not answer in time")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM (nothing is saved: ``--save ""``), then SIGKILL if it lingers; only this test's pid."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def restart(self, *options: str) -> None:
        """Stop and start again on the same port and dir (loading ``dump.rdb`` from it, if present)."""
        self.stop()
        if options:
            self.options = options
        self.start()

    def client(self) -> aioredis.Redis:
        client: aioredis.Redis = aioredis.Redis.from_url(self.url)
        return client


def redis_server_missing() -> str | None:
    """Why a private server cannot start here (None when it can); in CI a missing binary is a failure."""
    if REDIS_SERVER is not None:
        return None
    return "needs the redis-server binary on PATH" + (" (CI=true: it must be installed)" if IN_CI else "")
