"""``python -m hotstore.cli.bench.fsm``: aiogram's FSM per message, ``HotstoreStorage`` against ``RedisStorage``.

Every message does what aiogram's FSM middleware and a typical handler do on the key of the user's private chat:
``get_state``, ``get_data``, ``update_data``. Both storages run in one process on the same Redis, interleaved in
rounds (each row keeps its best round), and the ratio hotstore / RedisStorage is printed.

- The baseline is aiogram's own ``RedisStorage`` class (``aiogram.fsm.storage.redis``, default key builder with the
  bot id), on a plain ``redis.asyncio.Redis.from_url`` client as ``RedisStorage.from_url`` makes it. aiogram's
  ``redis`` extra asks for redis-py >= 6.2, which arq's pin (< 6) rules out, but the class itself runs on this
  environment's redis-py 5.x: it sends only GET (state), GET (data), GET + SET of a JSON string (``update_data``,
  read-merge-write), the same commands it sends on redis-py 6.
- The hotstore row also persists: an in-process flusher drains the dirty sessions to SQL during the run (on the
  same event loop, so its cost is charged to the row), and a final untimed drain checks that nothing is left.

    python -m hotstore.cli.bench.fsm --redis-url redis://127.0.0.1:6379/0           # 2,000 users, 20,000 messages
    python -m hotstore.cli.bench.fsm --users 20 --messages 60 --rounds 1            # a smoke run on fakeredis
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import uuid
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path

import redis.asyncio as aioredis
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StorageKey
from aiogram.fsm.storage.redis import RedisStorage

from hotstore.cli.bench.workload import RunResult, drive
from hotstore.core.settings import Settings
from hotstore.core.store import HotStore
from hotstore.integrations.aiogram import HotstoreStorage
from hotstore.writebehind.flush import drain

BOT_ID = 777_000_001
BOT_NAME = "bench_fsm"
HOTSTORE, REDIS_STORAGE = "HotstoreStorage (+ write-behind to SQL)", "aiogram RedisStorage (Redis only)"


@dataclass(frozen=True)
class Options:
    redis_url: str | None
    database_url: str | None
    users: int
    messages: int
    concurrency: int
    rounds: int


def parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m hotstore.cli.bench.fsm", description=__doc__.split("\n")[0])
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"),
                        help="the Redis both storages use (default REDIS_URL; none: the embedded fakeredis)")
    parser.add_argument("--database-url", default=None, help="hotstore's SQL (default: a temporary SQLite file)")
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    return Options(args.redis_url, args.database_url, max(1, args.users), max(1, args.messages),
                   max(1, args.concurrency), max(1, args.rounds))


def storage_key(user: int) -> StorageKey:
    return StorageKey(bot_id=BOT_ID, chat_id=user, user_id=user)


async def run_row(name: str, storage: BaseStorage, options: Options) -> RunResult:
    latencies: list[float] = []
    loop = asyncio.get_running_loop()
    sequence = [(1 + index % options.users, str(index)) for index in range(options.messages)]

    async def message(user: int, index: str) -> None:
        started = loop.time()
        key = storage_key(user)
        await storage.get_state(key)
        data = await storage.get_data(key)
        await storage.update_data(key, {"answers": int(data.get("answers", 0)) + 1, "last": index})
        latencies.append(loop.time() - started)

    elapsed = await drive(sequence, options.concurrency, message)
    return RunResult(name, options.messages, elapsed, latencies)


async def keep_flushing(store: HotStore, stop: asyncio.Event) -> int:
    """The write-behind, in-process: drain every flush interval until ``stop``; returns the rows written."""
    rows = 0
    while not stop.is_set():
        rows += (await drain(store.redis, store.engine, store.settings)).rows
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), store.settings.flush_interval)
    return rows


async def best_rounds(rows: dict[str, Callable[[], BaseStorage]], options: Options) -> dict[str, RunResult]:
    """Each row once untimed (connections opened, scripts loaded), then ``rounds`` interleaved rounds; the best."""
    priming = replace(options, messages=min(options.messages, 4 * options.concurrency))
    for name, storage in rows.items():
        await run_row(name, storage(), priming)
    best: dict[str, RunResult] = {}
    for _ in range(options.rounds):
        for name, storage in rows.items():
            result = await run_row(name, storage(), options)
            if name not in best or result.rate > best[name].rate:
                best[name] = result
    return best


def report(results: dict[str, RunResult], options: Options, flushed: int, remaining: int) -> str:
    lines = [f"aiogram FSM per message (get_state + get_data + update_data), {options.users} users, "
             f"{options.messages} messages, {options.concurrency} tasks, best of {options.rounds} rounds, "
             f"Redis {'embedded fakeredis' if options.redis_url is None else options.redis_url}",
             f"{'row':45} {'msg/s':>10} {'p50 ms':>8} {'p99 ms':>8}"]
    for result in results.values():
        lines.append(f"{result.name:45} {result.rate:10.0f} {result.percentile_ms(0.5):8.2f} "
                     f"{result.percentile_ms(0.99):8.2f}")
    ratio = results[HOTSTORE].rate / results[REDIS_STORAGE].rate if results[REDIS_STORAGE].rate else 0.0
    lines.append(f"ratio HotstoreStorage / RedisStorage: {ratio:.2f}x (goal >= 1.00x: "
                 f"{'met' if ratio >= 1 else 'not met'}); rows written behind to SQL: {flushed}, "
                 f"still dirty after the final drain: {remaining}")
    return "\n".join(lines)


async def run(options: Options) -> str:
    namespace = f"benchfsm{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        database_url = options.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench_fsm.db'}"
        store = await HotStore.open(Settings(redis_url=options.redis_url, database_url=database_url,
                                             namespace=namespace))
        baseline_redis = store.redis if options.redis_url is None else aioredis.Redis.from_url(options.redis_url)
        if not isinstance(baseline_redis, aioredis.Redis):
            raise SystemExit("bench fsm: aiogram's RedisStorage needs a single Redis, not a Redis Cluster")
        prefix = f"benchfsm-{namespace}"
        hot = HotstoreStorage(store, bot_name=BOT_NAME)
        baseline = RedisStorage(baseline_redis, key_builder=DefaultKeyBuilder(prefix=prefix, with_bot_id=True))
        try:
            async def first_contact(user: int, _: str) -> None:  # untimed: every session created in SQL
                await hot.get_state(storage_key(user))

            await drive([(user, "") for user in range(1, options.users + 1)], options.concurrency, first_contact)
            stop = asyncio.Event()
            flusher = asyncio.create_task(keep_flushing(store, stop))
            results = await best_rounds({HOTSTORE: lambda: hot, REDIS_STORAGE: lambda: baseline}, options)
            stop.set()
            flushed = await flusher
            final = await drain(store.redis, store.engine, store.settings)
            return report(results, options, flushed + final.rows, final.remaining)
        finally:
            for pattern in ("{" + namespace + "[}:]*", prefix + "*"):
                async for key in store.redis.scan_iter(match=pattern, count=1000):
                    await store.redis.delete(key)
            if baseline_redis is not store.redis:
                await baseline_redis.aclose()
            await store.close()


def main(argv: Sequence[str] | None = None) -> int:
    print(asyncio.run(run(parse(argv))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
