"""``bot.turn``: one round trip in, one out; only changes are written; failures write nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import event

from hotstore import Board, HotStore, InvalidInput, Settings
from hotstore.core.keys import board_member, iso_week
from persistence.engine import create_engine
from persistence.models import Base

TG = 77
LEVELS = [{"level": 1, "min_xp": 0}, {"level": 2, "min_xp": 50}]


class Trips:
    def __init__(self) -> None:
        self.redis = 0
        self.sql = 0


@pytest.fixture
async def counted_store(
    redis_client: aioredis.Redis, namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[HotStore, Trips]]:
    """A store whose Redis commands and SQL statements are counted_store."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'turn.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    trips = Trips()
    original = redis_client.execute_command

    async def counting(*args: Any, **options: Any) -> Any:
        trips.redis += 1
        return await original(*args, **options)

    monkeypatch.setattr(redis_client, "execute_command", counting)

    def count_sql(*_: Any) -> None:
        trips.sql += 1

    event.listen(engine.sync_engine, "before_cursor_execute", count_sql)
    hot = await HotStore.open(Settings(namespace=namespace), redis=redis_client, engine=engine)
    yield hot, trips
    await hot.close()
    await engine.dispose()


async def _warm(store: HotStore) -> None:
    bot = store.bot("spin")
    async with bot.turn(TG) as turn:  # creates user and session, loads the scripts
        turn.session["warm"] = True
        turn.add_xp(1)


async def test_entering_is_one_round_trip_and_no_sql_when_warm(counted_store: tuple[HotStore, Trips]) -> None:
    store, trips = counted_store
    await _warm(store)
    trips.redis = trips.sql = 0
    async with store.bot("spin").turn(TG, username="ann") as turn:
        assert (trips.redis, trips.sql) == (1, 0)
        assert turn.user is not None and turn.user.telegram_id == TG


async def test_leaving_with_changes_and_xp_is_one_round_trip(counted_store: tuple[HotStore, Trips]) -> None:
    store, trips = counted_store
    await _warm(store)
    async with store.bot("spin").turn(TG) as turn:
        trips.redis = trips.sql = 0
        turn.session["chat_state"] = "training_active"
        turn.incr_stats("total_questions")
        turn.add_xp(10)
    assert (trips.redis, trips.sql) == (1, 0)


async def test_a_turn_that_changes_nothing_writes_nothing(counted_store: tuple[HotStore, Trips]) -> None:
    store, trips = counted_store
    await _warm(store)
    async with store.bot("spin").turn(TG) as turn:
        trips.redis = 0
        _ = turn.session.get("chat_state")
    assert trips.redis == 0


async def test_containers_are_compared_with_what_was_read_in_place_changes_included(
    counted_store: tuple[HotStore, Trips]
) -> None:
    store, trips = counted_store
    await _warm(store)
    history = [{"q": f"вопрос {n}", "score": n} for n in range(8)]  # long enough to be chunked in Redis
    async with store.bot("spin").turn(TG) as turn:
        turn.session["history"], turn.session["meta"] = history, {"tags": {"a": 1}}
    async with store.bot("spin").turn(TG) as turn:  # read back (chunked, nested): untouched, nothing is written
        trips.redis = 0
        assert turn.session["history"] == history
    assert trips.redis == 0
    async with store.bot("spin").turn(TG) as turn:
        turn.session["history"].append({"q": "ещё", "score": 9})  # in place, at depth
        turn.session["meta"]["tags"]["b"] = 2
        trips.redis = 0
    assert trips.redis == 1
    session = (await store.bot("spin").get_session(TG)).session
    assert session["history"] == [*history, {"q": "ещё", "score": 9}]
    assert session["meta"] == {"tags": {"a": 1, "b": 2}}


async def test_a_first_contact_reads_through_and_creates_user_and_session(hot_store: HotStore) -> None:
    async with hot_store.bot("spin").turn(TG, first_name="Ann") as turn:
        assert turn.user is not None and turn.user.first_name == "Ann"
        assert turn.session["chat_state"] == "new"
        turn.session["chat_state"] = "started"
    assert (await hot_store.bot("spin").get_session(TG)).session["chat_state"] == "started"


async def test_an_exception_inside_the_block_writes_nothing(hot_store: HotStore) -> None:
    bot = hot_store.bot("spin")
    before = await bot.get_session(TG)
    with pytest.raises(RuntimeError):
        async with bot.turn(TG) as turn:
            turn.session["chat_state"] = "broken"
            turn.add_xp(40)
            raise RuntimeError("handler failed")
    after = await bot.get_session(TG)
    assert (after.session, after.xp, after.version) == (before.session, before.xp, before.version)


async def test_changed_and_deleted_keys_and_increments_are_written(hot_store: HotStore) -> None:
    bot = hot_store.bot("spin")
    async with bot.turn(TG) as turn:
        turn.session["per_type_counts"]["problem"] = 2  # a nested change counts as a change of its key
        del turn.session["case_data"]
        turn.incr_session("question_count", 3)
    assert turn.session["question_count"] == 3
    state = await bot.get_session(TG)
    assert state.session["per_type_counts"] == {"problem": 2}
    assert "case_data" not in state.session and state.session["question_count"] == 3


async def test_xp_level_and_boards_are_written_and_level_up_known_after_exit(hot_store: HotStore) -> None:
    async with hot_store.bot("spin").turn(TG) as turn:
        turn.add_xp(30, levels=LEVELS)
        turn.add_xp(30, levels=LEVELS)
        assert turn.level_up is None
    assert turn.level_up is not None
    assert (turn.level_up.leveled_up, turn.level_up.new_level, turn.level_up.total_xp) == (True, 2, 60)
    assert await hot_store.leaderboards.score(TG, Board.bot("spin")) == 60
    assert await hot_store.leaderboards.score(TG, Board.week()) == 60


async def test_concurrent_turns_changing_different_keys_keep_both(hot_store: HotStore) -> None:
    bot = hot_store.bot("spin")
    await bot.get_session(TG)
    entered = asyncio.Event()

    async def change(key: str, value: str, wait: bool) -> None:
        async with bot.turn(TG) as turn:
            turn.session[key] = value
            if wait:
                await entered.wait()  # both turns have read before either writes
            else:
                entered.set()

    await asyncio.gather(change("chat_state", "a", True), change("last_question_type", "b", False))
    state = await bot.get_session(TG)
    assert (state.session["chat_state"], state.session["last_question_type"]) == ("a", "b")


async def test_for_the_same_key_the_turn_that_leaves_last_wins_and_increments_add_up(hot_store: HotStore) -> None:
    bot = hot_store.bot("spin")
    await bot.get_session(TG)
    first = bot.turn(TG)
    second = bot.turn(TG)
    await first.__aenter__()
    await second.__aenter__()
    first.session["chat_state"], second.session["chat_state"] = "first", "second"
    first.incr_session("question_count")
    second.incr_session("question_count")
    await first.__aexit__(None, None, None)
    await second.__aexit__(None, None, None)
    state = await bot.get_session(TG)
    assert (state.session["chat_state"], state.session["question_count"]) == ("second", 2)


async def test_a_session_evicted_between_enter_and_exit_still_gets_the_changes(
    hot_store: HotStore, redis_client: aioredis.Redis
) -> None:
    bot = hot_store.bot("spin")
    async with bot.turn(TG) as turn:
        turn.add_xp(5)
    async with bot.turn(TG) as turn:
        await redis_client.delete(hot_store.keys.session("spin", TG), hot_store.keys.user(TG))  # evicted
        turn.session["chat_state"] = "after_eviction"
        turn.add_xp(5)
    state = await bot.get_session(TG)
    assert state.session["chat_state"] == "after_eviction"
    assert turn.level_up is not None and turn.level_up.total_xp == state.user.total_xp


async def test_a_value_changed_and_incremented_in_one_turn_is_refused_and_writes_nothing(hot_store: HotStore) -> None:
    bot = hot_store.bot("spin")
    before = await bot.get_session(TG)
    with pytest.raises(InvalidInput):
        async with bot.turn(TG) as turn:
            turn.session["question_count"] = 9
            turn.incr_session("question_count")
    assert (await bot.get_session(TG)).version == before.version


async def test_a_document_json_cannot_hold_is_refused_and_writes_nothing(hot_store: HotStore) -> None:
    bot = hot_store.bot("spin")
    before = await bot.get_session(TG)
    with pytest.raises(InvalidInput):
        async with bot.turn(TG) as turn:
            turn.session["when"] = {1, 2}
            turn.add_xp(10)
    after = await bot.get_session(TG)
    assert (after.version, after.xp) == (before.version, before.xp)


async def test_taking_xp_below_zero_is_refused_and_writes_nothing(hot_store: HotStore) -> None:
    bot = hot_store.bot("spin")
    before = await bot.get_session(TG)
    with pytest.raises(InvalidInput):
        async with bot.turn(TG) as turn:
            turn.session["chat_state"] = "x"
            turn.add_xp(-5)
    after = await bot.get_session(TG)
    assert (after.session, after.version) == (before.session, before.version)


async def test_a_long_value_under_a_key_with_a_nul_is_refused_and_writes_nothing(hot_store: HotStore) -> None:
    bot = hot_store.bot("spin")
    before = await bot.get_session(TG)
    with pytest.raises(InvalidInput):
        async with bot.turn(TG) as turn:
            turn.session["a\x00b"] = "x" * 100
    assert (await bot.get_session(TG)).version == before.version


async def test_an_int_replaced_by_an_equal_bool_counts_as_a_change(hot_store: HotStore) -> None:
    bot = hot_store.bot("spin")
    async with bot.turn(TG) as turn:
        turn.session["feedback_in_progress"] = 0
    async with bot.turn(TG) as turn:
        turn.session["feedback_in_progress"] = False
    assert (await bot.get_session(TG)).session["feedback_in_progress"] is False


async def test_a_turn_leaves_the_weekly_board_without_a_ttl(hot_store: HotStore, redis_client: aioredis.Redis) -> None:
    # a TTL on the board would let a volatile-* maxmemory-policy evict it; old weeks are swept by the write-behind
    bot = hot_store.bot("quiz_bot")
    async with bot.turn(7) as turn:
        turn.add_xp(30)
    board = hot_store.keys.weekly_board(iso_week(datetime.now(UTC)))
    assert await redis_client.zscore(board, board_member(7)) == 30
    assert await redis_client.pttl(board) == -1
