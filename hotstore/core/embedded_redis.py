"""The embedded default's private ``redis-server``: a child process on a free loopback port, in a temporary directory.

Without ``REDIS_URL``, hotstore needs a Redis of its own. fakeredis runs Lua in Python (a few hundred calls per
second), so when a ``redis-server`` binary is on the PATH the embedded default starts a private one instead
(``HOTSTORE_EMBEDDED_REDIS``: ``auto``, the default, picks the server when the binary exists and fakeredis
otherwise; ``server`` and ``fakeredis`` force one). The child:

- listens on 127.0.0.1 only, on a port the kernel picked free, with its files in a temporary directory;
- persists nothing (``--save "" --appendonly no``): like fakeredis it is for development and the demo, not for
  production, and its data lives as long as the process;
- is one per process, shared by every store of the process, started on first use and stopped when the last
  store using it closes (:func:`release`), at interpreter exit (``atexit``), and, on Linux, when the parent dies
  (``PR_SET_PDEATHSIG``), so it never outlives the process.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

from hotstore.core.errors import StoreUnavailable

SERVER_BINARY = "redis-server"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
_PR_SET_PDEATHSIG = 1


@dataclass
class EmbeddedRedis:
    """A running child ``redis-server``."""

    process: subprocess.Popen[bytes]
    port: int
    directory: str

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        """Terminate the child (kill it if it does not exit in time) and remove its directory."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)
        shutil.rmtree(self.directory, ignore_errors=True)


def server_binary() -> str | None:
    """The ``redis-server`` on the PATH, or None."""
    return shutil.which(SERVER_BINARY)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start(binary: str | None = None) -> EmbeddedRedis:
    """Start a private ``redis-server`` and wait until it answers PING; raises :class:`StoreUnavailable`."""
    binary = binary or server_binary()
    if binary is None:
        raise StoreUnavailable(f"no {SERVER_BINARY} on the PATH (set HOTSTORE_EMBEDDED_REDIS=fakeredis)")
    for _attempt in range(3):  # the free port may be taken between the probe and the bind: try another
        directory = tempfile.mkdtemp(prefix="hotstore-redis-")
        port = _free_port()
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", directory, "--daemonize", "no", "--loglevel", "warning", "--logfile", "server.log"]
        process = subprocess.Popen(command, cwd=directory, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        server = EmbeddedRedis(process, port, directory)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and process.poll() is None:
            if _answers(port):
                return server
            time.sleep(0.02)
        server.stop()
    raise StoreUnavailable(f"{SERVER_BINARY} did not start (tried 3 ports)")


_lock = threading.Lock()
_server: EmbeddedRedis | None = None
_users = 0
_atexit_registered = False


def url() -> str:
    """The URL of the process's private server, started on first use (stopped at exit if no store stops it)."""
    global _server, _atexit_registered
    with _lock:
        if _server is None or _server.process.poll() is not None:
            _server = start()
            if not _atexit_registered:
                atexit.register(stop)
                _atexit_registered = True
        return _server.url


def acquire() -> str:
    """The server's URL, counted as one more store using it (see :func:`release`)."""
    global _users
    address = url()
    with _lock:
        _users += 1
    return address


def release() -> None:
    """One store less: the last one to go stops the server."""
    global _users
    with _lock:
        _users = max(0, _users - 1)
        last = _users == 0
    if last:
        stop()


def stop() -> None:
    """Stop the process's private server, if one runs (its data is gone)."""
    global _server
    with _lock:
        server, _server = _server, None
    if server is not None:
        server.stop()


def running_pid() -> int | None:
    """The pid of the running private server (for status lines and tests), or None."""
    with _lock:
        return _server.process.pid if _server is not None and _server.process.poll() is None else None


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` exists (and is not a zombie of ours)."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
