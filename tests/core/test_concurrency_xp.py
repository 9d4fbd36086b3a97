"""Invariant 5 under contention: 1,000 XP awards for one user from two bot handles in four processes, each with
its own HotStore on the real Redis and one shared SQLite file. The total is exact and every level threshold is
reported crossed exactly once."""

from __future__ import annotations

import asyncio
import multiprocessing
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from hotstore import HotStore, Settings
from tests.support.servers import REDIS_ENV, real_server_url

TG = 9_000_000_001
PROCESSES = 4
AWARDS_PER_PROCESS = 250
AMOUNT = 7
IN_FLIGHT = 25  # concurrent awards per process


async def award(settings: Settings) -> list[tuple[int, int]]:
    """Run this process's awards, alternating bots; return the (old, new) level of every level-up seen."""
    async with await HotStore.open(settings) as store:
        bots = (store.bot("alpha"), store.bot("beta"))
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def one(i: int) -> tuple[int, int] | None:
            async with gate:
                outcome = await bots[i % 2].add_xp(TG, AMOUNT)
            return (outcome.old_level, outcome.new_level) if outcome.leveled_up else None

        results = await asyncio.gather(*(one(i) for i in range(AWARDS_PER_PROCESS)))
    return [crossing for crossing in results if crossing is not None]


def process_main(settings: Settings, queue: multiprocessing.Queue[list[tuple[int, int]]]) -> None:
    queue.put(asyncio.run(award(settings)))


@pytest.fixture
def contention_settings(tmp_path: Path) -> Iterator[Settings]:
    url = real_server_url(REDIS_ENV, "Redis")
    namespace = f"t{uuid.uuid4().hex[:12]}"
    yield Settings(redis_url=url, namespace=namespace, database_url=f"sqlite+aiosqlite:///{tmp_path / 'xp.db'}")
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(match="{" + namespace + "[}:]*", count=1000):
        client.delete(key)
    client.close()


async def final_state(settings: Settings, *, create_only: bool = False) -> tuple[int, int, int, int]:
    async with await HotStore.open(settings) as store:
        if create_only:
            return 0, 0, 0, 0
        user = await store.get_user(TG)
        alpha, beta = await store.bot("alpha").get_session(TG), await store.bot("beta").get_session(TG)
        board = await store.leaderboards.score(TG)
    assert user is not None and board is not None
    return user.total_xp, user.level, alpha.xp + beta.xp, board


@pytest.mark.slow
def test_concurrent_awards_from_many_processes_are_exact(contention_settings: Settings) -> None:
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[list[tuple[int, int]]] = context.Queue()
    asyncio.run(final_state(contention_settings, create_only=True))  # tables and scripts ready before the race
    workers = [context.Process(target=process_main, args=(contention_settings, queue)) for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    crossings = [crossing for _ in workers for crossing in queue.get(timeout=120)]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0

    total, level, bot_total, board = asyncio.run(final_state(contention_settings))
    expected = PROCESSES * AWARDS_PER_PROCESS * AMOUNT
    assert (total, bot_total, board) == (expected, expected, expected)
    assert level == min(expected // 100 + 1, 100)
    crossed = Counter(lvl for old, new in crossings for lvl in range(old + 1, new + 1))
    assert crossed == Counter(range(2, level + 1))  # each threshold reported exactly once
