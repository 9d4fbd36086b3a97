"""Invariant 5: a warm hot-path call is exactly one Redis round trip and no SQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore import Board, HotStore
from hotstore.compat import DatabaseService
from tests.support.stores import StoreFactory

TG = 7


class Counter:
    def __init__(self) -> None:
        self.redis = 0
        self.sql = 0


@pytest.fixture
async def counted(
    make_hot_store: StoreFactory, redis_client: aioredis.Redis, sqlite_engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[HotStore, Counter]:
    """A Redis-axis store whose Redis commands (``execute_command``) and SQL statements are counted."""
    counter = Counter()
    original = redis_client.execute_command

    async def counting(*args: Any, **options: Any) -> Any:
        counter.redis += 1
        return await original(*args, **options)

    monkeypatch.setattr(redis_client, "execute_command", counting)

    def count_sql(*_: Any) -> None:
        counter.sql += 1

    event.listen(sqlite_engine.sync_engine, "before_cursor_execute", count_sql)
    return await make_hot_store(), counter


CALLS: dict[str, Callable[[HotStore], Awaitable[Any]]] = {
    "get_session": lambda s: s.bot("spin").get_session(TG, username="ann"),
    "save_session": lambda s: s.bot("spin").save_session(TG, {"a": 1}, {"b": 2}),
    "patch_session": lambda s: s.bot("spin").patch_session(TG, incr_session={"n": 1}, unset_stats=["b"]),
    "reset_session": lambda s: s.bot("spin").reset_session(TG, keep_stats=False),
    "add_xp": lambda s: s.bot("spin").add_xp(TG, 5, levels=[{"level": 2, "min_xp": 3}]),
    "add_xp_no_create": lambda s: s.bot("spin").add_xp(TG, 5, create=False),
    "get_user": lambda s: s.get_user(TG),
    "ensure_user": lambda s: s.ensure_user(TG, first_name="Ann"),
    "user_id": lambda s: s.user_id(TG),
    "page": lambda s: s.leaderboards.page(Board.bot("spin")),
    "rank": lambda s: s.leaderboards.rank(TG),
    "competition_rank": lambda s: s.leaderboards.competition_rank(TG),
    "around": lambda s: s.leaderboards.around(TG, Board.week()),
    "count": lambda s: s.leaderboards.count(),
    "score": lambda s: s.leaderboards.score(TG),
}


@pytest.mark.parametrize("call", list(CALLS))
async def test_a_warm_call_is_one_round_trip_and_no_sql(counted: tuple[HotStore, Counter], call: str) -> None:
    store, counter = counted
    await store.bot("spin").add_xp(TG, 1)  # user, session and boards now in Redis
    await CALLS[call](store)  # and the script loaded (a first EVALSHA may need SCRIPT LOAD)
    counter.redis = counter.sql = 0
    await CALLS[call](store)
    assert (counter.redis, counter.sql) == (1, 0)


async def test_a_cold_call_is_two_round_trips_and_one_sql_transaction(counted: tuple[HotStore, Counter]) -> None:
    store, counter = counted
    await store.bot("spin").get_session(TG + 1)  # scripts loaded
    counter.redis = counter.sql = 0
    await store.bot("spin").get_session(TG)
    assert counter.redis == 2
    assert counter.sql > 0


async def test_the_facade_message_is_three_round_trips_when_warm(
    counted: tuple[HotStore, Counter],
) -> None:
    """v4's get → save → add XP through ``DatabaseService``: one round trip each (no read before the XP)."""
    store, counter = counted

    class Bound(DatabaseService):
        async def _store(self) -> HotStore:
            return store

    db = Bound("spin")
    await db.get_user_session(TG)
    await db.save_session(TG, {"a": 1}, {"b": 2})
    await db.add_xp_and_check_level_up(TG, 1)  # warm: user, session and scripts
    counter.redis = counter.sql = 0
    data = await db.get_user_session(TG, username="ann")
    await db.save_session(TG, {**data["session"], "a": 2}, data["stats"])
    result = await db.add_xp_and_check_level_up(TG, 10)
    assert result["total_xp"] == 11
    assert (counter.redis, counter.sql) == (3, 0)
