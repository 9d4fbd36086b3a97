"""Flush throughput and leaderboard rebuild time on PostgreSQL + Redis. Prints figures; asserts nothing.

    python -m hotstore.cli.bench.flush --admin-url postgresql://postgres@127.0.0.1:5432/postgres \
        --redis-url redis://127.0.0.1:6379/0 [--users 20000] [--board-users 1000000]

It creates a throw-away database next to ``--admin-url`` and a throw-away key namespace, and removes both.

1. Flush: the same ``--users`` dirty user hashes are written to SQL twice in one run, (a) by the worker's
   batched version-guarded upserts (``flush_batch`` rows per transaction) and (b) by one
   ``UPDATE … WHERE telegram_id = … AND version < …`` per row in its own transaction, as an SQL-only write
   path would. Then the end-to-end drain (Redis read + upsert + compare-and-clean) is timed.
2. Rebuild: ``--board-users`` users with XP are inserted in SQL and the global board is rebuilt from them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.cli.bench.baselines import postgres_database
from hotstore.core import constants as c
from hotstore.core.keys import KeyScheme
from hotstore.core.settings import Settings
from hotstore.writebehind.entities import USERS
from hotstore.writebehind.flush import drain, read_dirty, write_rows
from hotstore.writebehind.rebuild import rebuild_boards
from persistence.engine import create_engine
from persistence.models import Base, User

T0_MS = 1_767_225_600_000


async def _timed(what: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await what()
    return time.perf_counter() - started


async def _seed_users(engine: AsyncEngine, count: int) -> None:
    """``count`` users with telegram ids 1..count and some XP, inserted by the database itself."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO users (telegram_id, total_xp, version) "
                "SELECT g, (g::bigint * 7919) % 100000 + 1, 1 FROM generate_series(1, :n) AS g"
            ),
            {"n": count},
        )


async def _dirty_hashes(redis: aioredis.Redis, keys: KeyScheme, count: int, version: int) -> None:
    for start in range(1, count + 1, 1000):
        async with redis.pipeline(transaction=False) as pipe:
            for tg in range(start, min(start + 1000, count + 1)):
                fields = {
                    c.USER_ID: tg,
                    c.USER_TELEGRAM_ID: tg,
                    c.USER_XP: tg * 3 + version,
                    c.USER_LEVEL: 2,
                    c.USER_REGISTERED_MS: T0_MS,
                    c.USER_LAST_ACTIVITY_MS: T0_MS + version,
                    c.VERSION: version,
                }
                pipe.hset(keys.user(tg), mapping=fields)
                pipe.zadd(keys.user_dirty_set(tg), {str(tg): T0_MS + tg})
            await pipe.execute()


async def bench_flush(engine: AsyncEngine, redis: aioredis.Redis, settings: Settings, users: int) -> None:
    keys = settings.keys
    await _seed_users(engine, users)
    await _dirty_hashes(redis, keys, users, version=2)
    batch = await read_dirty(redis, keys, USERS, limit=users)  # the same rows for both write paths
    rows = batch.rows
    step = settings.flush_batch

    async def batched() -> None:
        for i in range(0, len(rows), step):
            await write_rows(engine, USERS, rows[i : i + step])

    async def per_row() -> None:
        for row in rows:
            async with engine.begin() as conn:
                await conn.execute(
                    update(User)
                    .where(User.telegram_id == row["telegram_id"], User.version < row["version"] + 1)
                    .values(
                        total_xp=row["total_xp"],
                        level=row["level"],
                        last_activity=row["last_activity"],
                        version=row["version"] + 1,
                    )
                )

    batched_s = await _timed(batched)
    for row in rows:
        row["version"] += 1  # the per-row path must really write, not be refused by the version guard
    per_row_s = await _timed(per_row)
    await _dirty_hashes(redis, keys, users, version=4)
    drain_s = await _timed(lambda: drain(redis, engine, settings))
    print(f"flush, {users} users, PostgreSQL, batch {step}:")
    print(f"  batched upserts      {users / batched_s:10.0f} rows/s  ({batched_s:.2f} s)")
    print(f"  one UPDATE per row   {users / per_row_s:10.0f} rows/s  ({per_row_s:.2f} s)")
    print(f"  ratio                {per_row_s / batched_s:10.1f} x")
    print(f"  end-to-end drain     {users / drain_s:10.0f} rows/s  ({drain_s:.2f} s: Redis read + upsert + clean)")


async def bench_rebuild(engine: AsyncEngine, redis: aioredis.Redis, settings: Settings, users: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE users CASCADE"))
    seed_s = await _timed(lambda: _seed_users(engine, users))
    started = time.perf_counter()
    report = await rebuild_boards(redis, engine, settings)
    rebuild_s = time.perf_counter() - started
    size = await redis.zcard(settings.keys.global_board)
    print(f"leaderboard rebuild from SQL, {users} users (seeded in {seed_s:.1f} s):")
    print(f"  rebuild              {rebuild_s:10.2f} s  ({size} members, {users / rebuild_s:.0f} members/s)")
    print(f"  boards               {report.boards}")


async def main(args: argparse.Namespace) -> None:
    async with postgres_database(args.admin_url) as url:
        settings = Settings(database_url=url, redis_url=args.redis_url, namespace=f"bench{uuid.uuid4().hex[:8]}")
        engine = create_engine(url)
        redis = aioredis.Redis.from_url(args.redis_url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(Base.metadata.create_all)
            await bench_flush(engine, redis, settings, args.users)
            await bench_rebuild(engine, redis, settings, args.board_users)
        finally:
            async for key in redis.scan_iter(match=settings.keys.namespace_pattern, count=10_000):
                await redis.unlink(key)
            await redis.aclose()
            await engine.dispose()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--admin-url", default=os.environ.get("HOTSTORE_TEST_DATABASE_URL"), required=False)
    parser.add_argument("--redis-url", default=os.environ.get("HOTSTORE_TEST_REDIS_URL"))
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--board-users", type=int, default=1_000_000)
    args = parser.parse_args()
    if not args.admin_url or not args.redis_url:
        parser.error("needs --admin-url (PostgreSQL) and --redis-url (a real Redis)")
    return args


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
