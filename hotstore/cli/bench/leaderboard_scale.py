"""The leaderboard at scale: a board of N users filled with the real key scheme, read through ``Leaderboards``.

Each read (top-10, a page at the middle rank, a rank, around-me) is timed over ``calls`` sequential calls; the
board's ``MEMORY USAGE`` divided by N gives the memory per ranked user.
"""

from __future__ import annotations

import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack
import redis.asyncio as aioredis
from sqlalchemy import text

from hotstore.cli.bench.baselines import delete_namespace, postgres_database
from hotstore.cli.bench.report import SESSION_MEMORY_RATIO, BoardReport, Timing
from hotstore.cli.bench.v4_baseline import V4Database
from hotstore.cli.bench.workload import FIRST_TELEGRAM_ID, Workload
from hotstore.core import constants as c
from hotstore.core.codec import decode_documents, encode_value
from hotstore.core.keys import KeyScheme, board_member
from hotstore.core.leaderboard import Board, Leaderboards
from hotstore.core.store import HotStore
from persistence.engine import create_engine
from persistence.models import Base

FILL_CHUNK = 5_000  # members per ZADD
FILL_PIPELINE = 10  # ZADDs per round trip
MAX_SCORE = 1_000_000


async def fill_board(redis: aioredis.Redis, key: str, members: int, seed: int = 8) -> float:
    """ZADD ``members`` users with random XP to ``key`` in pipelined batches; returns the seconds it took."""
    rng = random.Random(seed)
    start = time.perf_counter()
    step = FILL_CHUNK * FILL_PIPELINE
    for first in range(0, members, step):
        async with redis.pipeline(transaction=False) as pipe:
            for chunk in range(first, min(first + step, members), FILL_CHUNK):
                last = min(chunk + FILL_CHUNK, members)
                pipe.zadd(
                    key, {board_member(FIRST_TELEGRAM_ID + i): rng.randrange(MAX_SCORE) for i in range(chunk, last)}
                )
            await pipe.execute()
    return time.perf_counter() - start


async def time_calls(name: str, calls: int, call: Callable[[int], Awaitable[Any]]) -> Timing:
    """Median and p99 of ``calls`` sequential calls of ``call(i)``."""
    samples: list[float] = []
    for i in range(calls):
        start = time.perf_counter()
        await call(i)
        samples.append(time.perf_counter() - start)
    samples.sort()
    p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
    return Timing(name, statistics.median(samples) * 1000, p99 * 1000, calls)


async def board_timings(boards: Leaderboards, members: int, calls: int) -> list[Timing]:
    rng = random.Random(9)
    users = [FIRST_TELEGRAM_ID + rng.randrange(members) for _ in range(calls)]
    middle = members // 2
    board = Board.global_()
    return [
        await time_calls("top 10 (page offset 0)", calls, lambda i: boards.page(board, limit=10)),
        await time_calls(
            f"page of 10 at rank {middle + 1:,}", calls, lambda i: boards.page(board, limit=10, offset=middle)
        ),
        await time_calls("rank of a user", calls, lambda i: boards.rank(users[i], board)),
        await time_calls("around a user (radius 5)", calls, lambda i: boards.around(users[i], board, radius=5)),
        await time_calls("v4 competition rank", calls, lambda i: boards.competition_rank(users[i], board)),
        await time_calls("count", calls, lambda i: boards.count(board)),
    ]


async def run_board(redis_url: str, members: int, calls: int) -> BoardReport:
    """Fill a board of ``members`` in a namespace of its own, time the reads, measure memory, delete it."""
    redis = aioredis.Redis.from_url(redis_url)
    keys = KeyScheme(f"bench{uuid.uuid4().hex[:10]}")
    try:
        fill_s = await fill_board(redis, keys.global_board, members)
        report = BoardReport(members, fill_s, await board_timings(Leaderboards(redis, keys), members, calls))
        usage = await redis.memory_usage(keys.global_board, samples=0)
        report.memory = {f"board of {members:,}, per user": int(usage or 0) / members}
        return report
    finally:
        await delete_namespace(redis, keys)
        await redis.aclose()


async def fill_v4_users(url: str, members: int) -> float:
    """Insert ``members`` users with random XP into the v4 table at ``url`` in one statement; returns seconds.
    Statements are unbounded (``long_statements``): v4's queries on a million rows take longer than the store's
    default statement timeout, and the point of the row is to show how long."""
    engine = create_engine(url, long_statements=True)
    start = time.perf_counter()
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            await conn.execute(
                text(
                    "INSERT INTO users (telegram_id, username, total_xp) "
                    "SELECT CAST(:first AS bigint) + g, 'user' || g, floor(random() * CAST(:top AS bigint))::bigint "
                    "FROM generate_series(0, CAST(:n AS integer) - 1) g"
                ),
                {"first": FIRST_TELEGRAM_ID, "top": MAX_SCORE, "n": members},
            )
        async with engine.connect() as conn:
            await conn.execute(text("ANALYZE users"))
        return time.perf_counter() - start
    finally:
        await engine.dispose()


async def run_v4_board(postgres_url: str, members: int, calls: int) -> BoardReport:
    """v4's leaderboard SQL on PostgreSQL with ``members`` users (a throw-away database, dropped after)."""
    async with postgres_database(postgres_url) as url:
        fill_s = await fill_v4_users(url, members)
        engine = create_engine(url, long_statements=True)
        try:
            db = V4Database(engine)
            rng = random.Random(9)
            users = [FIRST_TELEGRAM_ID + rng.randrange(members) for _ in range(calls)]
            middle = members // 2
            timings = [
                await time_calls("v4 top 10", calls, lambda i: db.get_leaderboard(10, 0)),
                await time_calls(
                    f"v4 page of 10 at rank {middle + 1:,}", calls, lambda i: db.get_leaderboard(10, middle)
                ),
                await time_calls("v4 rank of a user", calls, lambda i: db.get_user_rank(users[i])),
            ]
            return BoardReport(members, fill_s, timings)
        finally:
            await engine.dispose()


async def entity_memory(store: HotStore, workload: Workload) -> dict[str, float]:
    """``MEMORY USAGE`` of the user hash and one session hash of a user the workload wrote to, and the session
    hash's ratio to the msgpack of its fields (now, and with the unchunked encoding used before, which a value
    over 64 bytes turns into a hashtable), as the issue measured it."""
    telegram_id, bot = workload.sequence()[0]
    redis: Any = store.redis
    key = store.keys.session(bot, telegram_id)
    user = await redis.memory_usage(store.keys.user(telegram_id), samples=0)
    session = float(await redis.memory_usage(key, samples=0) or 0)
    fields: dict[bytes, bytes] = await redis.hgetall(key)
    packed = len(msgpack.packb(fields))
    session_data, stats_data = decode_documents({name.decode(): value for name, value in fields.items()})
    unchunked = {name: value for name, value in fields.items() if not name.startswith((b"s:", b"t:"))}
    for prefix, document in ((c.SESSION_FIELD_PREFIX, session_data), (c.STATS_FIELD_PREFIX, stats_data)):
        unchunked.update({(prefix + name).encode(): encode_value(value) for name, value in document.items()})
    scratch = store.keys.tag + ":bench:unchunked"
    await redis.hset(scratch, mapping=unchunked)
    before = float(await redis.memory_usage(scratch, samples=0) or 0)
    await redis.delete(scratch)
    return {
        "user hash (one user)": float(user or 0),
        "session hash (one user, one bot)": session,
        "msgpack of the session hash's fields": float(packed),
        SESSION_MEMORY_RATIO: session / packed if packed else 0.0,
        "session hash ratio before (unchunked values, hashtable)": before / packed if packed else 0.0,
    }
