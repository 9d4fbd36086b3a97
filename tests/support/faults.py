"""Helpers of the fault tests (no tests here): a load-generator process, worker processes, a TCP proxy.

Run as a script, this module is the load generator::

    python tests/support/faults.py REDIS_URL DATABASE_URL NAMESPACE USERS SECONDS OUT.json

It adds XP and patches sessions through HotStore for USERS users in several bots for SECONDS seconds and
writes to OUT.json what it was told it wrote (totals per user, per session), plus the number of errors.
Each task owns its users (telegram id modulo the task count), so per-entity order is the ack order.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence.models import BotSession, User

BOTS = ("spin_bot", "quiz_bot", "sales_bot")
TASKS = 16
FIRST_TG = 7_000_000_000  # beyond int32, as newer Telegram ids are
ROOT = Path(__file__).resolve().parents[2]
ERROR_PAUSE_S = 0.05  # a task that saw an error waits this long before its next call (no busy loop in an outage)
ARQ_CLI = ("-m", "arq", "workers.WorkerSettings")
HOTSTORE_WORKER = ("-m", "hotstore", "worker")


async def _generate(redis_url: str, db_url: str, namespace: str, users: int, seconds: float) -> dict[str, Any]:
    from hotstore.core.settings import Settings
    from hotstore.core.store import HotStore

    store = await HotStore.open(Settings(database_url=db_url, redis_url=redis_url, namespace=namespace))
    xp: dict[int, int] = defaultdict(int)
    sessions: dict[str, dict[str, int]] = {}
    errors: list[str] = []
    ops = 0
    deadline = time.monotonic() + seconds

    async def task(index: int) -> None:
        nonlocal ops
        mine = [FIRST_TG + i for i in range(users) if i % TASKS == index]
        rng = random.Random(index)
        seq = 0
        while time.monotonic() < deadline:
            tg, bot = rng.choice(mine), rng.choice(BOTS)
            amount = rng.randint(1, 5)
            seq += 1
            try:
                await store.bot(bot).add_xp(tg, amount)
                xp[tg] += amount
                entry = sessions.setdefault(f"{bot}:{tg}", {"xp": 0, "n": 0, "last": 0})
                entry["xp"] += amount
                await store.bot(bot).patch_session(tg, session={"last": seq}, incr_stats={"n": 1})
                entry["n"] += 1
                entry["last"] = seq
                ops += 2
            except Exception as exc:  # counted: the hot path must not fail (or, in an outage, fail typed)
                errors.append(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(ERROR_PAUSE_S)

    try:
        await asyncio.gather(*(task(i) for i in range(TASKS)))
    finally:
        await store.close()
    return {"xp": {str(k): v for k, v in xp.items()}, "sessions": sessions, "ops": ops, "errors": errors}


def start_loadgen(
    redis_url: str, db_url: str, namespace: str, users: int, seconds: float, out: Path
) -> subprocess.Popen[bytes]:
    args = [sys.executable, __file__, redis_url, db_url, namespace, str(users), str(seconds), str(out)]
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(out.with_suffix(".log"), "wb"))


@dataclass
class WorkerFleet:
    """Worker processes (``python -m arq workers.WorkerSettings``) that can be killed and restarted."""

    env: dict[str, str]
    logs: Path
    size: int = 2
    command: tuple[str, ...] = ARQ_CLI  # or HOTSTORE_WORKER
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    started: int = 0
    kills: int = 0

    def _spawn(self) -> subprocess.Popen[bytes]:
        self.started += 1
        log = open(self.logs / f"worker-{self.started}.log", "wb")
        cmd = [sys.executable, *self.command]
        return subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def add(self) -> subprocess.Popen[bytes]:
        """Start one more worker."""
        proc = self._spawn()
        self.procs.append(proc)
        return proc

    def alive(self) -> int:
        return sum(proc.poll() is None for proc in self.procs)

    def start(self) -> None:
        self.procs = [self._spawn() for _ in range(self.size)]

    def kill_one(self, rng: random.Random) -> None:
        """SIGKILL a random worker and start a replacement."""
        index = rng.randrange(len(self.procs))
        proc = self.procs[index]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.kills += 1
        self.procs[index] = self._spawn()

    def stop(self, sig: int = signal.SIGKILL) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)  # a frozen worker cannot handle sig
                proc.send_signal(sig)
        for proc in self.procs:
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("worker-*.log")))


def worker_env(redis_url: str, db_url: str, namespace: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTSTORE_", "DATABASE_URL", "REDIS_URL"))}
    env.update(REDIS_URL=redis_url, DATABASE_URL=db_url, HOTSTORE_NAMESPACE=namespace, HOTSTORE_FLUSH_INTERVAL="1")
    env.update(extra)
    return env


async def compare_with_sql(engine: AsyncEngine, expected: dict[str, Any]) -> tuple[int, list[str]]:
    """Compare SQL with what the load generator was told it wrote; return (updates checked, mismatches)."""
    mismatches: list[str] = []
    async with engine.connect() as conn:
        users = dict((await conn.execute(select(User.telegram_id, User.total_xp))).all())
        rows = (
            await conn.execute(
                select(
                    BotSession.bot_name, User.telegram_id, BotSession.xp, BotSession.session_data, BotSession.stats_data
                ).join(User, User.id == BotSession.user_id)
            )
        ).all()
    for tg, total in expected["xp"].items():
        if users.get(int(tg)) != total:
            mismatches.append(f"user {tg}: sql total_xp {users.get(int(tg))} != {total}")
    got = {f"{bot}:{tg}": (xp, data.get("last"), stats.get("n")) for bot, tg, xp, data, stats in rows}
    for member, want in expected["sessions"].items():
        if got.get(member) != (want["xp"], want["last"], want["n"]):
            mismatches.append(f"session {member}: sql {got.get(member)} != {want}")
    return expected["ops"], mismatches


class TcpProxy:
    """A TCP proxy to ``target`` that the test can stop (an outage: every connection closed, new ones refused) and
    start again, or partition (a blackhole: connections accepted, nothing passed either way) and heal."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    def partition(self) -> None:
        """From now on pass nothing, on open and new connections alike, until :meth:`heal`."""
        self._flowing.clear()

    def heal(self) -> None:
        self._flowing.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self._writers.add(client_writer)
        try:
            await self._flowing.wait()
        except asyncio.CancelledError:  # the test's loop ends while this connection is held in a partition
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers |= {client_writer, server_writer}
        await asyncio.gather(self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()
            self._writers.discard(writer)


@asynccontextmanager
async def blackhole() -> AsyncIterator[int]:
    """A loopback port that accepts connections and never answers (a partitioned server); yields the port."""
    proxy = TcpProxy("127.0.0.1", 9)  # never reached: the proxy is partitioned from the start
    proxy.partition()
    await proxy.start()
    try:
        yield proxy.port
    finally:
        await proxy.stop()


if __name__ == "__main__":
    redis_url, db_url, namespace, users, seconds, out = sys.argv[1:7]
    result = asyncio.run(_generate(redis_url, db_url, namespace, int(users), float(seconds)))
    Path(out).write_text(json.dumps(result))
