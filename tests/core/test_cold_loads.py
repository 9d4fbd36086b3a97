"""The cold path: concurrent read-throughs share one SQL transaction, one load per key, and never overwrite newer
Redis data (invariant 6). SQL: SQLite and PostgreSQL; Redis: fake and real."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore import HotStore
from persistence.models import BotSession, User

FIRST = 6_000_000_000


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every SQL statement ``engine`` sends inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement.split()[0].upper())

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_concurrent_first_contacts_cost_one_select_and_bulk_inserts(
    store: HotStore, sql_engine: AsyncEngine
) -> None:
    bot = store.bot("spin")
    with statements(sql_engine) as sent:
        states = await asyncio.gather(*(bot.get_session(FIRST + i, username=f"u{i}") for i in range(40)))
    assert len({state.user.id for state in states}) == 40
    batches = store.cold_loads.batches
    assert batches <= 10  # of 40 loads: those that queue up while a batch runs go together as the next one
    assert sent.count("INSERT") == 2 * batches  # users, then sessions: one multi-row INSERT … ON CONFLICT each
    assert sent.count("SELECT") == 2 * batches  # the join, and once more for the rows just created


async def test_users_already_in_sql_load_in_one_select(store: HotStore, sql_engine: AsyncEngine) -> None:
    bot = store.bot("spin")
    await asyncio.gather(*(bot.get_session(FIRST + i) for i in range(30)))
    await store.redis.delete(*(store.keys.user(FIRST + i) for i in range(30)),  # a Redis restart, say
                             *(store.keys.session("spin", FIRST + i) for i in range(30)))
    before = store.cold_loads.batches
    with statements(sql_engine) as sent:
        await asyncio.gather(*(bot.get_session(FIRST + i) for i in range(30)))
    assert sent == ["SELECT"] * (store.cold_loads.batches - before)
    assert store.cold_loads.batches - before <= 10


async def test_loads_asked_for_in_one_loop_turn_are_one_batch(store: HotStore, sql_engine: AsyncEngine) -> None:
    with statements(sql_engine) as sent:
        loaded = await asyncio.gather(*(store.cold_loads.session(FIRST + i, "spin", create=True, profile=_profile())
                                        for i in range(25)))
    assert all(pair is not None for pair in loaded)
    assert (store.cold_loads.batches, sent) == (1, ["SELECT", "INSERT", "INSERT", "SELECT"])


async def test_one_load_is_in_flight_per_key(store: HotStore, sql_engine: AsyncEngine) -> None:
    bot = store.bot("spin")
    with statements(sql_engine) as sent:
        states = await asyncio.gather(*(bot.get_session(FIRST) for _ in range(10)))
    assert len({state.user.id for state in states}) == 1
    assert sent.count("INSERT") == 2  # user and session created once
    assert store.cold_loads.loads == 10 and store.cold_loads.batches < 10
    async with sql_engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(User))).scalar_one() == 1
        assert (await conn.execute(select(func.count()).select_from(BotSession))).scalar_one() == 1


async def test_a_load_asked_for_while_the_same_load_runs_waits_for_it(store: HotStore) -> None:
    first = asyncio.ensure_future(store.cold_loads.user(FIRST, create=True, profile=_profile()))
    await asyncio.sleep(0)  # the first load's batch has started
    second = await store.cold_loads.user(FIRST, create=True, profile=_profile())
    assert await first == second
    assert store.cold_loads.batches == 1


async def test_users_and_sessions_of_several_bots_load_together(store: HotStore) -> None:
    calls = [store.bot(bot).get_session(FIRST + i) for i in range(5) for bot in ("a", "b")]
    states = await asyncio.gather(*calls, store.get_user(FIRST + 99))
    assert states[-1] is None
    assert {state.bot_name for state in states[:-1]} == {"a", "b"}
    assert store.cold_loads.batches <= 5


async def test_writes_racing_a_batched_load_are_not_overwritten(
    store: HotStore, monkeypatch: pytest.MonkeyPatch, redis_client: aioredis.Redis
) -> None:
    """Invariant 6 under races: while a batch is loading, other calls write the same users; the loaded (older)
    values never replace what they wrote."""
    bot = store.bot("spin")
    await asyncio.gather(*(bot.add_xp(FIRST + i, 100) for i in range(10)))
    await redis_client.delete(*(store.keys.user(FIRST + i) for i in range(10)),
                              *(store.keys.session("spin", FIRST + i) for i in range(10)))
    real = store.cold_loads.session
    raced: set[int] = set()

    async def load_then_race(telegram_id: int, *args: Any, **kwargs: Any) -> Any:
        loaded = await real(telegram_id, *args, **kwargs)  # the SQL snapshot (XP 0: never flushed)
        if telegram_id not in raced:
            raced.add(telegram_id)
            await bot.add_xp(telegram_id, 7)  # loads again itself, then writes before the outer call does
        return loaded

    monkeypatch.setattr(store.cold_loads, "session", load_then_race)
    outcomes = await asyncio.gather(*(bot.add_xp(FIRST + i, 10) for i in range(10)))
    assert {outcome.total_xp for outcome in outcomes} == {17}
    assert len(raced) == 10


def _profile() -> Any:
    from hotstore.core.loader import Profile

    return Profile(username="ann")
