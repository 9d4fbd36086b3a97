"""Fault-matrix rows of Redis configuration and memory faults: a full Redis, an evicting policy, a rollback.

Each test starts its own redis-server (fixture ``private_redis``) and reports one line with ``report_figures``::

    row=<name> acknowledged=N sql=<entities equal>/<entities> redis=<…>/<…> lost=0 errors=<typed errors seen>

``acknowledged`` counts the writes the store returned from; ``sql`` and ``redis`` count the users and sessions
whose XP there equals what was acknowledged; ``lost`` the entities where either differs.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore import HotStore, Settings, StoreFull, UnsafeRedisConfig
from hotstore.core import constants as c
from hotstore.writebehind.flusher import InProcessFlusher
from hotstore.writebehind.metrics import read_metrics
from hotstore.writebehind.runner import WriteBehind
from persistence.models import BotSession, User
from tests.support.full_redis import fill_with_clean_sessions, make_full
from tests.support.redis_server import RedisServer
from workers.jobs import SETTINGS, startup

PrivateRedis = Callable[..., RedisServer]
Report = Callable[[str], None]
BOTS = ("spin_bot", "quiz_bot")
FIRST_TG = 7_100_000_000


class Ledger:
    """What the store acknowledged: XP per user and per (bot, user), and the typed errors it raised."""

    def __init__(self) -> None:
        self.users: dict[int, int] = defaultdict(int)
        self.sessions: dict[tuple[str, int], int] = defaultdict(int)
        self.acknowledged = 0
        self.errors: Counter[str] = Counter()

    async def add_xp(self, store: HotStore, bot: str, telegram_id: int, amount: int) -> None:
        try:
            await store.bot(bot).add_xp(telegram_id, amount)
        except StoreFull as exc:
            self.errors[type(exc).__name__] += 1
            return
        self.users[telegram_id] += amount
        self.sessions[(bot, telegram_id)] += amount
        self.acknowledged += 1

    def rebase(self, users: dict[int, int], sessions: dict[tuple[str, int], int]) -> None:
        """What a rolled-back Redis holds is the new baseline (the writes it lost are Redis's durability)."""
        self.users, self.sessions = defaultdict(int, users), defaultdict(int, sessions)

    def errors_text(self) -> str:
        return ",".join(f"{name}x{n}" for name, n in sorted(self.errors.items())) or "none"


async def sql_xp(engine: AsyncEngine) -> tuple[dict[int, int], dict[tuple[str, int], int]]:
    async with engine.connect() as conn:
        users = {int(tg): int(xp) for tg, xp in (await conn.execute(select(User.telegram_id, User.total_xp))).all()}
        query = select(BotSession.bot_name, User.telegram_id, BotSession.xp).join(User, User.id == BotSession.user_id)
        sessions = {(bot, int(tg)): int(xp) for bot, tg, xp in (await conn.execute(query)).all()}
    return users, sessions


async def redis_xp(store: HotStore, ledger: Ledger) -> tuple[dict[int, int], dict[tuple[str, int], int]]:
    """Read through the store (an entity evicted from Redis comes back from SQL)."""
    users: dict[int, int] = {}
    for tg in ledger.users:
        user = await store.get_user(tg)
        users[tg] = user.total_xp if user else -1
    sessions = {(bot, tg): (await store.bot(bot).get_session(tg)).xp for bot, tg in ledger.sessions}
    return users, sessions


def matching(ledger: Ledger, users: dict[int, int], sessions: dict[tuple[str, int], int]) -> tuple[int, set[Any]]:
    wrong: set[Any] = {tg for tg, xp in ledger.users.items() if users.get(tg) != xp}
    wrong |= {key for key, xp in ledger.sessions.items() if sessions.get(key) != xp}
    return len(ledger.users) + len(ledger.sessions) - len(wrong), wrong


async def row_figures(name: str, ledger: Ledger, engine: AsyncEngine, store: HotStore, **extra: Any) -> tuple[str, int]:
    total = len(ledger.users) + len(ledger.sessions)
    in_sql, sql_wrong = matching(ledger, *await sql_xp(engine))
    in_redis, redis_wrong = matching(ledger, *await redis_xp(store, ledger))
    lost = len(sql_wrong | redis_wrong)
    more = "".join(f" {key}={value}" for key, value in extra.items())
    line = (f"row={name} acknowledged={ledger.acknowledged} sql={in_sql}/{total} redis={in_redis}/{total} "
            f"lost={lost} errors={ledger.errors_text()}{more}")
    return line, lost


def settings_on(server: RedisServer, engine: AsyncEngine, namespace: str) -> Settings:
    return Settings(database_url=engine.url.render_as_string(hide_password=False), redis_url=server.url,
                    namespace=namespace)


async def test_row_redis_full(
    private_redis: PrivateRedis, sql_engine: AsyncEngine, namespace: str, report_figures: Report
) -> None:
    server = private_redis()
    client = server.client()
    settings = settings_on(server, sql_engine, namespace)
    store = await HotStore.open(settings, redis=client, engine=sql_engine)
    cycle = WriteBehind.open(settings, redis=client, engine=sql_engine)
    ledger = Ledger()
    try:
        await fill_with_clean_sessions(store, cycle, 400)
        for i in range(20):
            await ledger.add_xp(store, BOTS[i % 2], FIRST_TG + i, 1)
        await make_full(client)
        for round_ in range(6):  # writes on a full Redis are refused, typed; a flush tick makes room
            for i in range(20):
                await ledger.add_xp(store, BOTS[i % 2], FIRST_TG + i, round_ + 2)
            await cycle.flush_tick()
        await cycle.flush_everything()
        evicted = (await read_metrics(client, store.keys))[c.METRIC_PRESSURE_EVICTIONS]
        line, lost = await row_figures("redis_full", ledger, sql_engine, store, evicted_clean=evicted)
    finally:
        await store.close()
        await client.aclose()
    report_figures(line)
    assert ledger.errors["StoreFull"] > 0 and evicted > 0
    assert lost == 0, line


async def test_row_evicting_policy_refused(
    private_redis: PrivateRedis, sql_engine: AsyncEngine, namespace: str, report_figures: Report
) -> None:
    server = private_redis("--maxmemory-policy", "allkeys-lru")
    settings = settings_on(server, sql_engine, namespace)
    ledger = Ledger()
    starts: dict[str, Callable[[], Awaitable[Any]]] = {
        "store": lambda: HotStore.open(settings, engine=sql_engine),
        "worker": lambda: startup({SETTINGS: settings}),
        "in-process flusher": lambda: InProcessFlusher(settings, engine=sql_engine).start(),
    }
    for start in starts.values():
        with pytest.raises(UnsafeRedisConfig, match="maxmemory-policy is allkeys-lru"):
            await start()
        ledger.errors["UnsafeRedisConfig"] += 1
    report_figures(f"row=evicting_policy_refused acknowledged={ledger.acknowledged} sql=0/0 redis=0/0 lost=0 "
                   f"errors={ledger.errors_text()} refused={'+'.join(starts)}")
    assert ledger.errors["UnsafeRedisConfig"] == len(starts)


async def _write_round(store: HotStore, ledger: Ledger, users: int, times: Callable[[int], int]) -> None:
    for i in range(users):
        for n in range(times(i)):
            await ledger.add_xp(store, BOTS[i % 2], FIRST_TG + i, n + 1)


async def _snapshot(ledger: Ledger) -> tuple[dict[int, int], dict[tuple[str, int], int]]:
    return dict(ledger.users), dict(ledger.sessions)


async def _evict_everything_clean(client: aioredis.Redis, store: HotStore) -> None:
    for pattern in (store.keys.user_pattern, store.keys.session_pattern):
        async for key in client.scan_iter(match=pattern):
            if await client.pttl(key) > 0:  # clean (dirty ones have no TTL)
                await client.delete(key)


async def test_row_redis_rollback(
    private_redis: PrivateRedis, sql_engine: AsyncEngine, namespace: str, report_figures: Report
) -> None:
    server = private_redis()
    settings = settings_on(server, sql_engine, namespace)
    ledger = Ledger()
    users = 30
    client = server.client()
    store = await HotStore.open(settings, redis=client, engine=sql_engine)
    await _write_round(store, ledger, users, lambda i: 3)
    await WriteBehind.open(settings, redis=client, engine=sql_engine).flush_everything()
    await client.save()  # the snapshot Redis will roll back to
    snapshot = await _snapshot(ledger)
    await _write_round(store, ledger, users, lambda i: 4)  # acknowledged, flushed: SQL is now ahead
    await WriteBehind.open(settings, redis=client, engine=sql_engine).flush_everything()
    await store.close()
    await client.aclose()

    server.restart()  # loads the older dump.rdb: Redis rolled back
    ledger.rebase(*snapshot)
    client = server.client()
    store = await HotStore.open(settings, redis=client, engine=sql_engine)
    try:
        # after the rollback: below SQL's version, equal to it, above it
        await _write_round(store, ledger, users, lambda i: (1, 4, 6)[i % 3])
        cycle = WriteBehind.open(settings, redis=client, engine=sql_engine)
        totals = await cycle.flush_everything()
        conflicts = (await read_metrics(client, store.keys))[c.METRIC_VERSION_CONFLICTS]
        await _evict_everything_clean(client, store)  # then read through from SQL
        line, lost = await row_figures("redis_rollback", ledger, sql_engine, store, version_conflicts=conflicts)
    finally:
        await store.close()
        await client.aclose()
    report_figures(line)
    assert totals.remaining == 0
    assert conflicts > 0
    assert lost == 0, line
