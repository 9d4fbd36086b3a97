"""Training history: saved in SQL, listed newest first; counters (tt/ts) updated in Redis once per id, no XP."""

from __future__ import annotations

import asyncio
from dataclasses import fields
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from hotstore.core import constants as c
from hotstore.core.codec import training_marks_from_hash, training_marks_to_hash
from hotstore.core.errors import InvalidInput
from hotstore.core.store import HotStore
from hotstore.durable import TrainingHistory
from hotstore.writebehind.flush import drain
from persistence.engine import sessionmaker_for
from persistence.models import User
from tests.support.dirty import dirty_score

NOW = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)


def clock() -> datetime:
    return NOW


@pytest.fixture
def history(store: HotStore) -> TrainingHistory:
    return TrainingHistory(store, now=clock)


async def hot(store: HotStore, tg: int, field: str) -> int:
    raw = await store.redis.hget(store.keys.user(tg), field)
    return int(raw) if raw is not None else 0


async def test_save_counts_the_training_without_xp(history: TrainingHistory, store: HotStore) -> None:
    recorded = await history.save(1, total_score=180, question_count=9)
    assert (recorded.applied, recorded.total_trainings, recorded.total_score) == (True, 1, 180)
    assert await hot(store, 1, c.USER_XP) == 0
    user = await store.get_user(1)
    assert user is not None and (user.total_trainings, user.total_score) == (1, 180)


async def test_save_marks_the_user_dirty_and_bumps_the_version(history: TrainingHistory, store: HotStore) -> None:
    await store.ensure_user(1)
    version = await hot(store, 1, c.VERSION)
    await history.save(1, total_score=5)
    assert await hot(store, 1, c.VERSION) == version + 1
    assert await dirty_score(store.redis, store.keys, "users", "1") is not None
    assert await store.redis.ttl(store.keys.user(1)) == -1


async def test_applying_the_same_history_id_again_counts_nothing(history: TrainingHistory, store: HotStore) -> None:
    recorded = await history.save(1, total_score=50)
    again = await history.apply(1, recorded.history_id, 50)
    assert (again.applied, again.total_trainings, again.total_score) == (False, 1, 50)


async def test_ids_applied_out_of_order_both_count(history: TrainingHistory, store: HotStore) -> None:
    await store.ensure_user(1)
    await history.apply(1, 11, 10)
    late = await history.apply(1, 10, 5)
    assert (late.applied, late.total_trainings, late.total_score) == (True, 2, 15)


async def test_user_missing_from_redis_is_loaded_then_counted(history: TrainingHistory, store: HotStore) -> None:
    await history.save(1, total_score=7)
    await store.redis.delete(store.keys.user(1))  # as if evicted (SQL counters were not flushed: 0)
    recorded = await history.save(1, total_score=3)
    assert recorded.applied and recorded.total_trainings == 1 and recorded.total_score == 3


async def sql_counters(store: HotStore, tg: int) -> tuple[int, int, dict[str, object] | None]:
    async with sessionmaker_for(store.engine)() as session:
        user = (await session.execute(select(User).where(User.telegram_id == tg))).scalar_one()
        return user.total_trainings, user.total_score, user.training_marks


async def test_the_flush_writes_the_applied_ids_with_the_counters(history: TrainingHistory, store: HotStore) -> None:
    first = await history.save(1, total_score=4)
    second = await history.save(1, total_score=6)
    await drain(store.redis, store.engine, store.settings)
    marks = {"last": second.history_id, "recent": [first.history_id, second.history_id]}
    assert await sql_counters(store, 1) == (2, 10, marks)


async def test_reapplying_after_total_redis_loss_counts_nothing(
    history: TrainingHistory, store: HotStore, namespace: str
) -> None:
    recorded = await history.save(1, total_score=30)
    await drain(store.redis, store.engine, store.settings)
    lost = [key async for key in store.redis.scan_iter(match=f"{{{namespace}[}}:]*", count=1000)]
    assert store.keys.user(1).encode() in lost
    await store.redis.delete(*lost)  # Redis lost: every key of the namespace, dirty sets included

    again = await history.apply(1, recorded.history_id, 30)

    assert (again.applied, again.total_trainings, again.total_score) == (False, 1, 30)
    assert (await hot(store, 1, c.USER_TOTAL_TRAININGS), await hot(store, 1, c.USER_TOTAL_SCORE)) == (1, 30)
    await drain(store.redis, store.engine, store.settings)
    assert (await sql_counters(store, 1))[:2] == (1, 30)


async def test_after_eviction_an_id_not_yet_applied_still_counts_once(
    history: TrainingHistory, store: HotStore
) -> None:
    await store.ensure_user(1)
    await history.apply(1, 11, 10)
    await drain(store.redis, store.engine, store.settings)
    await store.redis.delete(store.keys.user(1))  # evicted: the marks come back from SQL
    late = await history.apply(1, 10, 5)  # committed before 11, recorded after it: counts
    repeat = await history.apply(1, 11, 10)
    assert (late.applied, repeat.applied, repeat.total_trainings, repeat.total_score) == (True, False, 2, 15)


def test_training_marks_round_trip_in_record_training_lua_encoding() -> None:
    fields = training_marks_to_hash({"last": 12, "recent": [12, 3, 9]})
    assert fields == {c.USER_LAST_TRAINING: "12", c.USER_RECENT_TRAININGS: "3 9 12"}
    as_read = {name.encode(): value.encode() for name, value in fields.items()}
    assert training_marks_from_hash(as_read) == {"last": 12, "recent": [3, 9, 12]}
    assert training_marks_to_hash(None) == {} and training_marks_from_hash({}) is None


async def test_concurrent_saves_each_count_once(history: TrainingHistory, store: HotStore) -> None:
    await store.ensure_user(1)
    await asyncio.gather(*(history.save(1, total_score=2) for _ in range(10)))
    assert (await hot(store, 1, c.USER_TOTAL_TRAININGS), await hot(store, 1, c.USER_TOTAL_SCORE)) == (10, 20)


async def test_list_is_newest_first_as_training_records(history: TrainingHistory) -> None:
    for score in (1, 2, 3):
        await history.save(1, total_score=score, scenario_name="spin", per_type_counts={"problem": score})
    rows = await history.list(1, limit=2)
    assert [r.total_score for r in rows] == [3, 2]  # same training_date: ties by id, newest first
    assert {field.name for field in fields(rows[0])} >= {
        "id", "telegram_id", "training_date", "scenario_name", "total_score", "clarity_level",
        "question_count", "contextual_questions", "per_type_counts", "case_data",
    }  # fmt: skip
    assert (rows[0].telegram_id, rows[0].scenario_name, rows[0].training_date) == (1, "spin", NOW)
    assert rows[0].per_type_counts == {"problem": 3}
    assert [r.total_score for r in await history.list(1, limit=2, offset=2)] == [1]


async def test_bad_input_is_refused_before_writing(history: TrainingHistory, store: HotStore) -> None:
    with pytest.raises(InvalidInput):
        await history.save(1, total_score=2**40)
    with pytest.raises(InvalidInput):
        await history.save(1, total_score=1, case_data={"x": {1, 2}})  # type: ignore[dict-item]
    assert await history.list(1) == []
    assert await store.get_user(1) is None
