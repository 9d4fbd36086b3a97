"""Flush throughput with 1, 2 and 4 worker processes, and leaderboard latency, on a Redis Cluster (or any Redis).
Prints figures; asserts nothing.

    python -m hotstore.cli.bench.cluster --redis-url redis://127.0.0.1:7000/0 \
        --admin-url postgresql://postgres@127.0.0.1:5432/postgres [--users 20000] [--workers 1,2,4] \
        [--board-users 100000] [--board-calls 2000]

Every run uses a throw-away database next to ``--admin-url`` and a throw-away key namespace, and removes both.

1. Flush: ``--users`` dirty user hashes are written to Redis (spread over the 64 shards), then N worker
   processes start (each a :class:`~hotstore.writebehind.runner.WriteBehind` with its own clients, running flush
   ticks as a worker's loop does). Each refreshes its shard leases until the N hold their shares, then all start
   at once and drain; rows/s = users / seconds from that start until nothing is dirty.
2. Leaderboard: ``--board-users`` members on the global board, then ``--board-calls`` calls each of rank, a page
   of 10 and around-me through ``store.leaderboards``; p50 and p99 in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hotstore.cli.bench.baselines import postgres_database
from hotstore.cli.bench.flush import _dirty_hashes
from hotstore.cli.bench.leaderboard_scale import fill_board
from hotstore.cli.bench.workload import FIRST_TELEGRAM_ID
from hotstore.core.redis_client import connect
from hotstore.core.settings import Settings
from hotstore.core.store import HotStore
from hotstore.writebehind.flush import dirty_counts
from hotstore.writebehind.runner import WriteBehind
from persistence.engine import create_engine
from persistence.models import Base


@dataclass(frozen=True)
class Options:
    redis_url: str
    admin_url: str
    users: int
    workers: tuple[int, ...]
    board_users: int
    board_calls: int


def parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m hotstore.cli.bench.cluster", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-url", required=True, help="any node of the cluster (or a single Redis)")
    parser.add_argument("--admin-url", required=True, help="a PostgreSQL URL; a throw-away database is made next to it")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--workers", default="1,2,4", help="worker process counts, comma-separated")
    parser.add_argument("--board-users", type=int, default=100_000)
    parser.add_argument("--board-calls", type=int, default=2_000)
    args = parser.parse_args(argv)
    return Options(args.redis_url, args.admin_url, args.users, tuple(int(n) for n in args.workers.split(",")),
                   args.board_users, args.board_calls)


def _worker(settings: Settings, workers: int, start: Any) -> None:
    """One worker process: take its share of the shard leases, wait for the others at ``start`` (a barrier), then
    flush ticks until nothing is dirty in any shard."""

    async def run() -> None:
        runner = WriteBehind.open(settings)
        share = settings.keys.shards // workers
        try:
            while True:  # balanced: every worker registered and this one holds its floor/ceil share
                held = await runner.leases.refresh()
                if await runner.redis.zcard(settings.keys.workers) == workers and len(held) in (share, share + 1):
                    break
                await asyncio.sleep(0.05)
            await asyncio.to_thread(start.wait)
            while sum((await dirty_counts(runner.redis, settings.keys)).values()):
                if await runner.flush_tick() is None:
                    await asyncio.sleep(0.01)
        finally:
            await runner.close()

    asyncio.run(run())


async def _create_tables(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
    finally:
        await engine.dispose()


async def flush_rate(options: Options, workers: int) -> float:
    """Rows/s for ``workers`` processes draining ``options.users`` dirty users."""
    async with postgres_database(options.admin_url) as url:
        await _create_tables(url)
        settings = Settings(redis_url=options.redis_url, database_url=url, namespace=f"bcl{uuid.uuid4().hex[:8]}")
        redis = connect(settings)
        try:
            await _dirty_hashes(redis, settings.keys, options.users, version=2)  # type: ignore[arg-type]
            context = multiprocessing.get_context("spawn")
            start = context.Barrier(workers + 1)
            procs = [context.Process(target=_worker, args=(settings, workers, start)) for _ in range(workers)]
            for proc in procs:
                proc.start()
            await asyncio.to_thread(start.wait)
            started = time.perf_counter()
            for proc in procs:
                await asyncio.to_thread(proc.join)
            seconds = time.perf_counter() - started
        finally:
            await _delete(redis, settings)
            await redis.aclose()
    return options.users / seconds


async def _delete(redis: object, settings: Settings) -> None:
    async for key in redis.scan_iter(match=settings.keys.namespace_pattern, count=1000):  # type: ignore[attr-defined]
        await redis.delete(key)  # type: ignore[attr-defined]


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50 * 1000:.3f} ms, p99 {p99 * 1000:.3f} ms"


async def board_latency(options: Options) -> list[str]:
    """p50/p99 of rank, a page of 10 and around-me on a global board of ``options.board_users`` members."""
    settings = Settings(redis_url=options.redis_url, namespace=f"bcl{uuid.uuid4().hex[:8]}",
                        database_url="sqlite+aiosqlite:///:memory:")
    store = await HotStore.open(settings)
    try:
        await fill_board(store.redis, store.keys.global_board, options.board_users)  # type: ignore[arg-type]
        rng = random.Random(5)
        boards = store.leaderboards
        lines = []
        for name, call in (("rank", lambda tg: boards.rank(tg)), ("page", lambda tg: boards.page(limit=10)),
                           ("around", lambda tg: boards.around(tg, radius=5))):
            samples = []
            for _ in range(options.board_calls):
                tg = FIRST_TELEGRAM_ID + rng.randrange(options.board_users)
                started = time.perf_counter()
                await call(tg)
                samples.append(time.perf_counter() - started)
            lines.append(f"leaderboard {name:6s} ({options.board_users} members): {_percentiles(samples)}")
        return lines
    finally:
        await _delete(store.redis, settings)
        await store.close()


async def run(options: Options) -> list[str]:
    lines = []
    for workers in options.workers:
        rate = await flush_rate(options, workers)
        lines.append(f"flush {options.users} users with {workers} worker(s): {rate:,.0f} rows/s")
    lines.extend(await board_latency(options))
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    for line in asyncio.run(run(parse(argv))):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
