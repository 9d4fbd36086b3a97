"""``hotstore demo``: several bots and a few thousand users chatting, live, then proof that SQL equals Redis.

With no ``REDIS_URL``/``DATABASE_URL`` it runs on the embedded defaults (in-process fakeredis and a fresh SQLite
file ``./hotstore-demo.db``) with the write-behind worker in-process. With real servers it expects separate
``hotstore worker`` processes (``--worker external``, the default there)::

    hotstore demo                                   # 3 bots, 2000 users, 10 s
    hotstore demo --bots 5 --users 10000 --duration 30
    REDIS_URL=redis://localhost:6379/0 DATABASE_URL=postgresql://… hotstore demo

It ends by draining every dirty entity to SQL and comparing SQL with Redis; the exit status is 0 only when they
are equal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from hotstore.cli.argtypes import number_arg, safe_url
from hotstore.core import settings as env

if TYPE_CHECKING:
    from hotstore.cli.demo.traffic import Traffic
    from hotstore.cli.demo.view import LiveView

from hotstore.cli.operations import flush_all_async
from hotstore.core.settings import Settings
from hotstore.writebehind.flusher import InProcessFlusher

DEMO_DATABASE_FILE = "hotstore-demo.db"
DEFAULT_BOTS = 3
DEFAULT_USERS = 2000
DEFAULT_DURATION_S = 10.0
DEFAULT_CONCURRENCY = 32
REFRESH_S = 0.5


@dataclass(frozen=True)
class DemoOptions:
    """What ``hotstore demo`` was asked to do."""

    bots: int = DEFAULT_BOTS
    users: int = DEFAULT_USERS
    duration: float = DEFAULT_DURATION_S
    concurrency: int = DEFAULT_CONCURRENCY
    worker: str = "embedded"  # embedded | external
    seed: int | None = None


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``hotstore demo`` flags."""
    parser.add_argument("--bots", type=_bounded_int(1, 50), default=DEFAULT_BOTS, help="bots (default 3)")
    parser.add_argument("--users", type=_bounded_int(1, 1_000_000), default=DEFAULT_USERS,
                        help="users (default 2000)")
    parser.add_argument("--duration", type=_duration, default=DEFAULT_DURATION_S, metavar="SECONDS",
                        help="seconds of traffic before draining and verifying (default 10)")
    parser.add_argument("--concurrency", type=_bounded_int(1, 1000), default=DEFAULT_CONCURRENCY,
                        help="concurrent chat tasks (default 32)")
    parser.add_argument("--worker", choices=("embedded", "external"), default=None,
                        help="run the write-behind worker in this process (embedded; the default without "
                             "REDIS_URL) or rely on separate 'hotstore worker' processes (external; the default "
                             "with REDIS_URL)")
    parser.add_argument("--seed", type=int, default=None, help="random seed, for a reproducible run")


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    return number_arg(int, lambda value: low <= value <= high, kind="an integer",
                      refusal=f"must be between {low} and {high}")


_duration = number_arg(float, lambda value: 0 < value <= 24 * 3600, kind="a number of seconds",
                       refusal="must be between 0 and 86400 seconds")


def run_demo_command(args: argparse.Namespace, settings: Settings) -> int:
    """Entry point of ``hotstore demo`` (``args`` from :func:`add_demo_arguments`)."""
    explicit_database = bool(args.database_url or os.environ.get(env.ENV_DATABASE_URL))
    settings = demo_settings(settings, explicit_database=explicit_database)
    worker = args.worker or ("embedded" if settings.embedded_redis else "external")
    options = DemoOptions(bots=args.bots, users=args.users, duration=args.duration,
                          concurrency=args.concurrency, worker=worker, seed=args.seed)
    return asyncio.run(run_demo(settings, options, out=sys.stdout))


def demo_settings(settings: Settings, *, explicit_database: bool) -> Settings:
    """The demo's own SQLite file (recreated) unless a database was given explicitly."""
    if explicit_database:
        return settings
    path = Path.cwd() / DEMO_DATABASE_FILE
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return settings.with_(database_url=f"sqlite+aiosqlite:///{path}")


async def run_demo(settings: Settings, options: DemoOptions, *, out: TextIO) -> int:
    """Run traffic for ``options.duration`` seconds with a live view, drain, verify; 0 if SQL equals Redis."""
    from hotstore.cli.demo.traffic import Traffic
    from hotstore.cli.demo.verify import verify
    from hotstore.cli.demo.view import LiveView
    from hotstore.core.store import HotStore

    if options.worker == "embedded" and not settings.embedded_redis:
        print("note: embedded worker on a real Redis; other worker processes may flush too", file=out)
    if options.worker == "external" and settings.embedded_redis:
        raise _usage_error("--worker external needs a real Redis (REDIS_URL): the embedded one is in-process")
    await prepare_database(settings.database_url)
    print(_banner(settings, options), file=out, flush=True)
    store = await HotStore.open(settings)
    try:
        traffic = Traffic(store, bots=options.bots, users=options.users, seed=options.seed)
        await traffic.durable.start(traffic.telegram_ids)
        view = LiveView(store, traffic, out=out, redis_label=_redis_label(settings))
        async with _worker(settings, options.worker):
            await _run_for(traffic, view, options)
            print(f"draining: {view.dirty_summary(await view.sample())}", file=out, flush=True)
        await drain(settings)
        verdict = await verify(store, traffic.telegram_ids, traffic.bot_names)
        verdict.differences += await traffic.durable.check(traffic.telegram_ids)
        print(traffic.summary(), file=out)
        if out.isatty():  # the dashboard's closing verdict
            from rich.console import Console

            from hotstore.cli.demo.dashboard import verdict_panel

            Console(file=out).print(verdict_panel(verdict.render(), verdict.ok))
        else:
            print(verdict.render(), file=out, flush=True)
        return 0 if verdict.ok else 1
    finally:
        await store.close()


async def _run_for(traffic: Traffic, view: LiveView, options: DemoOptions) -> None:
    stop = asyncio.Event()
    chatters = [asyncio.create_task(traffic.chat_until(stop)) for _ in range(options.concurrency)]
    viewer = asyncio.create_task(view.run_until(stop, refresh=REFRESH_S))
    try:
        # chat tasks only finish early by failing: stop at the first failure or when the time is up
        await asyncio.wait(chatters, timeout=options.duration, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        stop.set()
        results = await asyncio.gather(*chatters, viewer, return_exceptions=True)
        traffic.stopped = time.monotonic()
    errors = [result for result in results if isinstance(result, BaseException)]
    if errors:
        raise errors[0]


@contextlib.asynccontextmanager
async def _worker(settings: Settings, mode: str) -> AsyncIterator[None]:
    """The in-process flusher for ``embedded``; nothing for ``external`` (separate worker processes)."""
    if mode != "embedded":
        yield
        return
    async with InProcessFlusher(settings):
        yield


async def drain(settings: Settings) -> int:
    """Flush everything still dirty; 0 when nothing dirty remains (safe next to running workers, invariant 3)."""
    return await flush_all_async(settings)


async def prepare_database(url: str) -> None:
    """Bring the schema up to date, as production does (Alembic)."""
    from persistence.migrate import upgrade

    await upgrade(url)


def _redis_label(settings: Settings) -> str:
    if not settings.embedded_redis:
        return safe_url(settings.redis_url or "")
    if settings.embedded_backend == "server":
        return "embedded: a private redis-server child on loopback, persisting nothing"
    return "embedded fakeredis (in-process; Lua runs in Python: slow, see README)"


def _banner(settings: Settings, options: DemoOptions) -> str:
    redis = _redis_label(settings)
    return (
        f"hotstore demo: {options.bots} bots, {options.users} users, {options.duration:g}s, "
        f"{options.concurrency} concurrent chats, worker {options.worker}\n"
        f"  redis: {redis} (namespace {settings.namespace})\n  sql:   {safe_url(settings.database_url)}"
    )


def _usage_error(message: str) -> Exception:
    from hotstore.core.errors import InvalidInput

    return InvalidInput(message)


__all__ = ["DemoOptions", "add_demo_arguments", "drain", "run_demo", "run_demo_command"]
