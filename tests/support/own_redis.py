"""A redis-server of the test's own, on a free loopback port in a temp dir: started, crashed, restarted by pid.

For faults that the shared test Redis must never see (a crash, a restart): the shared one is not touched.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

START_WAIT_S = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class OwnRedis:
    """``redis-server`` on ``port`` with its files in ``workdir``; ``aof`` switches on AOF (fsync every second)."""

    workdir: Path
    aof: bool
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (the fault tests start their own)")
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir), "--save", "",
                "--appendonly", "yes" if self.aof else "no", "--appendfsync", "everysec"]
        log = open(self.workdir / "redis.log", "ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_WAIT_S
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        pytest.fail(f"own redis-server on port {self.port} did not start")

    def crash(self) -> None:
        """SIGKILL the server (no shutdown save: what it holds is what its AOF holds, if any)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        """Start it again on the same port and directory (an AOF, if any, is loaded)."""
        self.crash()
        self.start()
