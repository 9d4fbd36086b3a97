"""Fuzzing the v4 facade ``hotstore.compat.DatabaseService`` (promise A, invariant 9).

Where v4 answered False/None/zeros for an unknown user, the facade still does; but a malformed argument (wrong
type, id outside int64, ``bool`` for ``int``, NaN, huge strings, non-JSON metadata, negative counts, unknown
enums, malformed levels or scenario config) raises :class:`hotstore.core.errors.InvalidInput`, before any SQL or
Redis write, for known and unknown users alike. A refused call leaves every SQL row and every Redis key of the
namespace as it was.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotstore.compat import DatabaseService
from hotstore.compat import lifecycle as runtime
from hotstore.core.errors import HotstoreError, InvalidInput, StoreUnavailable
from persistence.enums import FreeTrainingSource, SubscriptionType
from tests.support.dumps import redis_dump, sql_dump
from tests.support.v4_process import v4_process

KNOWN = 21
UNKNOWN = 22

huge = st.just("h" * 100_000)
anything = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5), st.binary(max_size=3), huge,
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.just(object()),
)
bad_ints = st.one_of(st.booleans(), st.integers(min_value=2**63), st.integers(max_value=-(2**63) - 1), st.floats(),
                     st.text(max_size=3), st.none())
telegram_ids = st.sampled_from([KNOWN, UNKNOWN]) | bad_ints | anything
ints = st.integers(-3, 3) | st.integers(min_value=2**31) | bad_ints
json_ish = st.recursive(anything, lambda inner: st.lists(inner, max_size=2)
                        | st.dictionaries(st.text(max_size=3) | st.integers(), inner, max_size=2), max_leaves=5)
documents = st.none() | st.dictionaries(st.text(max_size=4), json_ish, max_size=3) | json_ish
levels = st.none() | st.lists(st.fixed_dictionaries({"level": ints, "min_xp": ints}), max_size=2) | anything
scenarios = st.none() | st.fixed_dictionaries({}, optional={
    "question_types": anything, "scoring": anything | st.fixed_dictionaries({"question_weights": anything}),
    "ranking": anything | st.fixed_dictionaries({"levels": levels}),
}) | anything
names = st.none() | st.text(max_size=8) | huge | anything
enums = st.sampled_from([*SubscriptionType, *FreeTrainingSource, "month", "weekly", ""]) | anything

Call = Callable[[DatabaseService], Coroutine[Any, Any, Any]]


def call(method: str, *args: st.SearchStrategy[Any], **kwargs: st.SearchStrategy[Any]) -> st.SearchStrategy[Call]:
    return st.builds(lambda a, kw: (lambda db: getattr(db, method)(*a, **kw)), st.tuples(*args),
                     st.fixed_dictionaries(kwargs))


def compat_calls() -> st.SearchStrategy[Call]:
    return st.one_of(
        call("get_user_session", telegram_ids, names, names),
        call("save_session", telegram_ids, documents, documents),
        call("reset_session", telegram_ids, scenarios),
        call("add_xp_and_check_level_up", telegram_ids, ints | st.integers(), levels),
        call("update_user_stats_after_training", telegram_ids, ints, scenarios, award_xp=st.booleans() | anything),
        call("get_user_info", telegram_ids),
        call("ensure_user_exists", telegram_ids, names, names, names),
        call("get_leaderboard", ints, ints),
        call("get_user_rank", telegram_ids),
        call("award_badge", telegram_ids, st.just("b") | names, documents),
        call("get_user_badges", telegram_ids),
        call("check_access", telegram_ids),
        call("consume_access", telegram_ids),
        call("create_subscription", telegram_ids, enums, st.none() | ints, st.none() | ints),
        call("add_free_trainings", telegram_ids, ints, enums),
        call("save_training_history", telegram_ids, ints, ints, ints, ints, documents, documents, documents, names),
        call("get_user_training_history", telegram_ids, ints),
    )


async def full_dump() -> tuple[Any, Any]:
    store = await runtime.get_store()
    return await sql_dump(store.engine), await redis_dump(store.redis, store.settings.namespace)


@pytest.fixture
async def seeded_v4_db(sql_url: str, redis_url: str | None, namespace: str,
             monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DatabaseService]:
    """A v4 bot process without the in-process flusher (a background flush would change SQL between dumps),
    with one known user holding XP, a badge, credits and a training."""
    monkeypatch.setenv("HOTSTORE_EMBEDDED_WORKER", "0")
    async with v4_process(monkeypatch, sql_url, redis_url, namespace, bot_name="spin_bot"):
        db = DatabaseService()
        await db.get_user_session(KNOWN, "ann", "Ann")
        await db.add_xp_and_check_level_up(KNOWN, 150)
        await db.award_badge(KNOWN, "first_win")
        await db.create_subscription(KNOWN, SubscriptionType.CREDITS, credits=2)
        await db.save_training_history(KNOWN, 10, 1, 5, 0)
        yield db


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fn=compat_calls())
async def test_a_refused_facade_call_raises_a_typed_error_and_writes_nothing(
    seeded_v4_db: DatabaseService, fn: Call
) -> None:
    before = await full_dump()
    try:
        await fn(seeded_v4_db)
    except StoreUnavailable:
        raise
    except HotstoreError:
        after = await full_dump()
        assert after[0] == before[0], "SQL changed by a refused call"
        assert after[1] == before[1], "Redis changed by a refused call"


MALFORMED: list[tuple[str, Call]] = [
    ("session id bool", lambda db: db.get_user_session(True)),
    ("session id over int64", lambda db: db.get_user_session(2**63)),
    ("session huge username", lambda db: db.get_user_session(KNOWN, "u" * 100_000)),
    ("session username not str", lambda db: db.get_user_session(KNOWN, 5)),  # type: ignore[arg-type]
    ("save NaN", lambda db: db.save_session(KNOWN, {"x": float("nan")})),
    ("save non-JSON", lambda db: db.save_session(UNKNOWN, {"x": {1, 2}})),
    ("save not a dict", lambda db: db.save_session(KNOWN, [1])),  # type: ignore[arg-type]
    ("reset scenario not dict", lambda db: db.reset_session(KNOWN, 5)),  # type: ignore[arg-type]
    ("reset scoring not dict", lambda db: db.reset_session(KNOWN, {"scoring": 5})),
    ("reset weights not dict", lambda db: db.reset_session(KNOWN, {"scoring": {"question_weights": 5}})),
    ("xp float", lambda db: db.add_xp_and_check_level_up(KNOWN, 1.5)),  # type: ignore[arg-type]
    ("xp bool", lambda db: db.add_xp_and_check_level_up(KNOWN, True)),
    ("xp unknown user float", lambda db: db.add_xp_and_check_level_up(UNKNOWN, float("nan"))),  # type: ignore[arg-type]
    ("xp levels not a list", lambda db: db.add_xp_and_check_level_up(KNOWN, 1, 5)),  # type: ignore[arg-type]
    ("xp levels bad entry", lambda db: db.add_xp_and_check_level_up(KNOWN, 1, [{"level": "2", "min_xp": 0}])),
    ("xp unknown user bad levels", lambda db: db.add_xp_and_check_level_up(UNKNOWN, 1, [{"level": None}])),
    ("stats score float", lambda db: db.update_user_stats_after_training(KNOWN, 1.5)),  # type: ignore[arg-type]
    ("stats award_xp not bool", lambda db: db.update_user_stats_after_training(KNOWN, 1, award_xp=1)),  # type: ignore[arg-type]
    ("stats ranking not dict", lambda db: db.update_user_stats_after_training(KNOWN, 1, {"ranking": 5})),
    ("stats levels malformed", lambda db: db.update_user_stats_after_training(
        KNOWN, 1, {"ranking": {"levels": [{"level": "x"}]}}, award_xp=True)),
    ("info id str", lambda db: db.get_user_info("21")),  # type: ignore[arg-type]
    ("ensure huge name", lambda db: db.ensure_user_exists(UNKNOWN, "a", "f" * 300)),
    ("leaderboard limit 0", lambda db: db.get_leaderboard(0)),
    ("leaderboard offset negative", lambda db: db.get_leaderboard(10, -1)),
    ("rank id float", lambda db: db.get_user_rank(21.0)),  # type: ignore[arg-type]
    ("badge type not str", lambda db: db.award_badge(KNOWN, 5)),  # type: ignore[arg-type]
    ("badge type huge", lambda db: db.award_badge(KNOWN, "b" * 101)),
    ("badge unknown user bad type", lambda db: db.award_badge(UNKNOWN, "")),
    ("badge NaN metadata", lambda db: db.award_badge(KNOWN, "b", {"x": float("inf")})),
    ("badges id bool", lambda db: db.get_user_badges(False)),
    ("access id over int64", lambda db: db.check_access(-(2**63) - 1)),
    ("consume id None", lambda db: db.consume_access(None)),  # type: ignore[arg-type]
    ("subscription unknown type", lambda db: db.create_subscription(KNOWN, "weekly")),  # type: ignore[arg-type]
    ("subscription negative days", lambda db: db.create_subscription(KNOWN, SubscriptionType.MONTH, -5)),
    ("subscription bool credits", lambda db: db.create_subscription(KNOWN, SubscriptionType.CREDITS, None, True)),
    ("subscription unknown user bad credits", lambda db: db.create_subscription(UNKNOWN, SubscriptionType.CREDITS)),
    ("free trainings negative", lambda db: db.add_free_trainings(KNOWN, -1, FreeTrainingSource.ADMIN)),
    ("free trainings unknown source", lambda db: db.add_free_trainings(KNOWN, 1, "lottery")),  # type: ignore[arg-type]
    ("free trainings unknown user, count 0", lambda db: db.add_free_trainings(UNKNOWN, 0, FreeTrainingSource.ADMIN)),
    ("history score over int32", lambda db: db.save_training_history(KNOWN, 2**31, 0, 0, 0)),
    ("history negative count", lambda db: db.save_training_history(KNOWN, 1, 0, -1, 0)),
    ("history unknown user, bad score", lambda db: db.save_training_history(UNKNOWN, 1.5, 0, 0, 0)),  # type: ignore[arg-type]
    ("history huge scenario", lambda db: db.save_training_history(KNOWN, 1, 0, 0, 0, scenario_name="s" * 1000)),
    ("history non-JSON snapshot", lambda db: db.save_training_history(KNOWN, 1, 0, 0, 0, None, None, {"b": b"x"})),
    ("history list limit 0", lambda db: db.get_user_training_history(KNOWN, 0)),
]


@pytest.mark.parametrize("fn", [fn for _, fn in MALFORMED], ids=[name for name, _ in MALFORMED])
async def test_malformed_facade_input_raises_invalid_input_and_writes_nothing(
    seeded_v4_db: DatabaseService, fn: Call
) -> None:
    before = await full_dump()
    with pytest.raises(InvalidInput):
        await fn(seeded_v4_db)
    assert await full_dump() == before


async def test_an_unknown_user_keeps_v4_answers(seeded_v4_db: DatabaseService) -> None:
    """Well-formed calls for an unknown user answer as v4 did and create nothing."""
    before = await full_dump()
    assert await seeded_v4_db.award_badge(UNKNOWN, "b") is False
    assert await seeded_v4_db.create_subscription(UNKNOWN, SubscriptionType.MONTH) is False
    assert await seeded_v4_db.add_free_trainings(UNKNOWN, 1, FreeTrainingSource.ADMIN) is False
    assert await seeded_v4_db.save_training_history(UNKNOWN, 1, 0, 0, 0) is False
    assert (await seeded_v4_db.add_xp_and_check_level_up(UNKNOWN, 5))["leveled_up"] is False
    assert await seeded_v4_db.get_user_info(UNKNOWN) is None and await seeded_v4_db.get_user_rank(UNKNOWN) is None
    assert await full_dump() == before
