"""Fuzzing the durable services (``hotstore.durable``): bad input gets a documented, typed error and changes
nothing (invariant 9, promise A).

Every public call of Badges, Payments, Access, Promocodes, TrainingHistory and ``delete_user`` is fed
arguments that are mostly invalid (wrong types, ids outside int64, ``bool`` for ``int``, NaN, huge strings,
non-JSON metadata, negative counts, amounts with 3 decimals or floats, unknown tariffs/sources/enums, bad bot
names). A call may succeed (some generated arguments are valid); when it raises, the error must be one of
:mod:`hotstore.core.errors` (never a raw SQLAlchemy, driver, Redis, ``TypeError``, ``KeyError`` …), and every row of
every SQL table and every key of the Redis namespace must be exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotstore import HotStore
from hotstore.core.errors import HotstoreError, InvalidInput, NotFound, StoreUnavailable
from hotstore.durable import Access, Badges, Payments, Promocodes, TrainingHistory, delete_user
from tests.support.dumps import redis_dump, sql_dump
from tests.support.stores import StoreFactory

KNOWN = 11
BOT = "spin_bot"

huge = st.just("x" * 100_000)
anything = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5), st.binary(max_size=3),
    st.just(Decimal("NaN")), st.just(float("nan")), huge, st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), st.just(object()),
)
bad_ints = st.one_of(
    st.booleans(), st.integers(min_value=2**63), st.integers(max_value=-(2**63) - 1), st.floats(),
    st.text(max_size=3), st.none(), st.just(Decimal(1)),
)
telegram_ids = st.just(KNOWN) | bad_ints | anything
counts = st.integers(-3, 3) | st.integers(min_value=2**31) | bad_ints
texts = st.sampled_from(["", " ", "ok", "a\x00b"]) | st.text(max_size=60) | huge | anything
bot_names = st.sampled_from([None, BOT, "", "a:b", "{x}", "a b", "x" * 51]) | st.text(max_size=8) | anything
json_ish = st.recursive(
    anything, lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3) | st.integers(), inner,
                                                                          max_size=2), max_leaves=5,
)
documents = st.none() | st.dictionaries(st.text(max_size=4), json_ish, max_size=3) | json_ish
amounts = st.sampled_from(["1.001", "0.005", "-1", "1e400", "abc", "", "NaN", "Infinity", "10" * 20]) | st.floats() \
    | st.just(Decimal("1.001")) | st.just(Decimal("sNaN")) | st.integers(min_value=10**15) | anything
tariffs = st.sampled_from(["month", "nope", "MONTH", ""]) | texts
enum_names = st.sampled_from(["month", "year", "credits", "trainings", "free_month", "referral", "promocode", "admin",
                              "completed", "pending", "refunded", "failed", "bogus", ""])
enums = enum_names | anything
# Mapping keys must be hashable: lists and dicts from `anything` would break generation, not the code under test.
enum_keys = enum_names | st.none() | st.booleans() | st.integers() | st.text(max_size=3) | st.just(object())
datetimes = st.none() | st.datetimes() | st.just(datetime(2000, 1, 1, tzinfo=UTC)) | anything

Call = Callable[[HotStore], Coroutine[Any, Any, Any]]


def call(fn: Callable[..., Coroutine[Any, Any, Any]], *args: st.SearchStrategy[Any],
         **kwargs: st.SearchStrategy[Any]) -> st.SearchStrategy[Call]:
    """``fn(store, *args, **kwargs)`` with each argument drawn from its strategy."""
    return st.builds(lambda a, kw: (lambda s: fn(s, *a, **kw)), st.tuples(*args), st.fixed_dictionaries(kwargs))


def durable_calls() -> st.SearchStrategy[Call]:
    return st.one_of(
        call(lambda s, *a, **k: Badges(s).award(*a, **k), telegram_ids, texts, bot_name=bot_names,
             metadata=documents),
        call(lambda s, *a, **k: Badges(s).list(*a, **k), telegram_ids, bot_name=bot_names),
        call(lambda s, *a, **k: Badges(s).count(*a, **k), telegram_ids, bot_name=bot_names),
        call(lambda s, *a, **k: Badges(s).has(*a, **k), telegram_ids, texts, bot_name=bot_names),
        call(lambda s, *a, **k: Payments(s).record(*a, **k), telegram_ids, provider=texts, payment_id=texts,
             amount=amounts, tariff=tariffs, currency=st.sampled_from(["RUB", "rub", "RUBX"]) | texts,
             description=texts, metadata=texts),
        call(lambda s, *a: Payments(s).get(*a), texts, texts),
        call(lambda s, *a: Payments(s).complete(*a), texts, texts),
        call(lambda s, *a: Payments(s).fail(*a), texts, texts),
        call(lambda s, *a: Payments(s).refund(*a), texts, texts),
        call(lambda s, *a: Payments(s).set_status(*a), st.just("yookassa") | texts, st.just("p-1") | texts, enums),
        call(lambda s, *a: Access(s).check(*a), telegram_ids),
        call(lambda s, *a: Access(s).consume(*a), telegram_ids),
        call(lambda s, *a: Access(s).require(*a), telegram_ids),
        call(lambda s, *a: Access(s).get_active_subscription(*a), telegram_ids),
        call(lambda s, *a: Access(s).check_subscription_valid(*a), telegram_ids),
        call(lambda s, *a, **k: Access(s).grant_subscription(*a, **k), telegram_ids, enums,
             duration_days=st.none() | counts, credits=st.none() | counts),
        call(lambda s, *a: Access(s).add_free_trainings(*a), telegram_ids,
             st.dictionaries(enum_keys, counts, max_size=3) | anything),
        call(lambda s, *a, **k: Promocodes(s).create(*a, **k), texts, enums, counts, max_uses=st.none() | counts,
             expires_at=datetimes),
        call(lambda s, *a: Promocodes(s).get(*a), st.just("spring") | texts),
        call(lambda s, *a: Promocodes(s).redeem(*a), st.just("spring") | texts, telegram_ids),
        call(lambda s, *a: Promocodes(s).activate(*a), st.just("spring") | texts, telegram_ids),
        call(lambda s, *a, **k: TrainingHistory(s).save(*a, **k), telegram_ids, total_score=counts,
             clarity_level=counts, question_count=counts, contextual_questions=counts,
             per_type_counts=documents, case_data=documents, session_snapshot=documents, scenario_name=texts,
             bot_name=bot_names),
        call(lambda s, *a: TrainingHistory(s).apply(*a), telegram_ids, counts | st.just(0), counts),
        call(lambda s, *a, **k: TrainingHistory(s).list(*a, **k), telegram_ids, limit=counts, offset=counts),
        call(lambda s, *a: delete_user(s, *a), bad_ints | anything),
    )


async def full_dump(store: HotStore, client: aioredis.Redis, namespace: str) -> tuple[Any, Any]:
    return await sql_dump(store.engine), await redis_dump(client, namespace)


@pytest.fixture
async def seeded_store(make_store: StoreFactory) -> HotStore:
    """A store on both axes with one warm user holding a badge, a completed payment, a promocode and a training."""
    hot = await make_store(bot_name=BOT)
    await hot.bot(BOT).add_xp(KNOWN, 150)
    await Badges(hot).award(KNOWN, "first_win")
    payments = Payments(hot)
    await payments.record(KNOWN, provider="yookassa", payment_id="p-1", amount="990.00", tariff="month")
    await payments.complete("yookassa", "p-1")
    await Promocodes(hot).create("spring", "trainings", 3, max_uses=5)
    await TrainingHistory(hot).save(KNOWN, total_score=10)
    return hot


async def assert_refusal_is_clean(store: HotStore, client: aioredis.Redis, namespace: str, fn: Call) -> None:
    """Run ``fn``: a refusal must be a documented error and leave SQL and Redis exactly as they were."""
    before = await full_dump(store, client, namespace)
    try:
        await fn(store)
    except StoreUnavailable:
        raise  # the servers are up: a bad argument must not look like an outage
    except HotstoreError:
        after = await full_dump(store, client, namespace)
        assert after[0] == before[0], "SQL changed by a refused call"
        assert after[1] == before[1], "Redis changed by a refused call"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fn=durable_calls())
async def test_a_refused_durable_call_raises_a_typed_error_and_writes_nothing(
    seeded_store: HotStore, redis_client: aioredis.Redis, namespace: str, fn: Call
) -> None:
    await assert_refusal_is_clean(seeded_store, redis_client, namespace, fn)


# Inputs that are certainly malformed: each must raise InvalidInput, and write nothing.
MALFORMED: list[tuple[str, Call]] = [
    ("badge bool id", lambda s: Badges(s).award(True, "b")),
    ("badge id over int64", lambda s: Badges(s).award(2**63, "b")),
    ("badge type not str", lambda s: Badges(s).award(KNOWN, 5)),  # type: ignore[arg-type]
    ("badge type huge", lambda s: Badges(s).award(KNOWN, "b" * 100_000)),
    ("badge bad bot", lambda s: Badges(s).award(KNOWN, "b", bot_name="a:b")),
    ("badge NaN metadata", lambda s: Badges(s).award(KNOWN, "b", metadata={"x": float("nan")})),
    ("badge set metadata", lambda s: Badges(s).award(KNOWN, "b", metadata={"x": {1}})),
    ("badge metadata not dict", lambda s: Badges(s).award(KNOWN, "b", metadata=[1])),  # type: ignore[arg-type]
    ("has badge type not str", lambda s: Badges(s).has(KNOWN, 5)),  # type: ignore[arg-type]
    ("list badges bad bot", lambda s: Badges(s).list(KNOWN, bot_name="{x}")),
    ("payment 3 decimals", lambda s: Payments(s).record(KNOWN, provider="p", payment_id="x", amount="1.001",
                                                        tariff="month")),
    ("payment float", lambda s: Payments(s).record(KNOWN, provider="p", payment_id="x", amount=1.5,  # type: ignore[arg-type]
                                                   tariff="month")),
    ("payment NaN", lambda s: Payments(s).record(KNOWN, provider="p", payment_id="x", amount=Decimal("NaN"),
                                                 tariff="month")),
    ("payment huge description", lambda s: Payments(s).record(KNOWN, provider="p", payment_id="x", amount="1",
                                                              tariff="month", description="d" * 100_000)),
    ("payment description not str", lambda s: Payments(s).record(KNOWN, provider="p", payment_id="x", amount="1",
                                                                 tariff="month", description=5)),  # type: ignore[arg-type]
    ("payment metadata not str", lambda s: Payments(s).record(KNOWN, provider="p", payment_id="x", amount="1",
                                                              tariff="month", metadata={"a": 1})),  # type: ignore[arg-type]
    ("payment new user bool id", lambda s: Payments(s).record(False, provider="p", payment_id="x", amount="1",
                                                              tariff="month")),
    ("payment conflicting re-record", lambda s: Payments(s).record(KNOWN, provider="yookassa", payment_id="p-1",
                                                                   amount="1.00", tariff="year")),
    ("complete provider not str", lambda s: Payments(s).complete(5, "p-1")),  # type: ignore[arg-type]
    ("get payment id huge", lambda s: Payments(s).get("yookassa", "p" * 100_000)),
    ("set_status unknown", lambda s: Payments(s).set_status("yookassa", "p-1", "bogus")),
    ("set_status not str", lambda s: Payments(s).set_status("yookassa", "p-1", 3)),  # type: ignore[arg-type]
    ("grant unknown type", lambda s: Access(s).grant_subscription(KNOWN, "weekly")),
    ("grant negative days", lambda s: Access(s).grant_subscription(KNOWN, "month", duration_days=-1)),
    ("grant bool credits", lambda s: Access(s).grant_subscription(KNOWN, "credits", credits=True)),
    ("grant to new user, bad type", lambda s: Access(s).grant_subscription(99, "weekly")),
    ("free trainings unknown source", lambda s: Access(s).add_free_trainings(KNOWN, {"lottery": 1})),
    ("free trainings negative", lambda s: Access(s).add_free_trainings(KNOWN, {"admin": -1})),
    ("free trainings not a mapping", lambda s: Access(s).add_free_trainings(KNOWN, [("admin", 1)])),  # type: ignore[arg-type]
    ("free trainings new user, bad count", lambda s: Access(s).add_free_trainings(99, {"admin": 0})),
    ("check id str", lambda s: Access(s).check("11")),  # type: ignore[arg-type]
    ("promo unknown type", lambda s: Promocodes(s).create("x", "gold", 1)),
    ("promo negative value", lambda s: Promocodes(s).create("x", "credits", -1)),
    ("promo negative max_uses", lambda s: Promocodes(s).create("x", "credits", 1, max_uses=-1)),
    ("promo expiry not datetime", lambda s: Promocodes(s).create("x", "credits", 1, expires_at="2030")),  # type: ignore[arg-type]
    ("promo duplicate", lambda s: Promocodes(s).create("SPRING", "credits", 1)),
    ("promo code huge", lambda s: Promocodes(s).get("c" * 100_000)),
    ("redeem code not str", lambda s: Promocodes(s).redeem(5, KNOWN)),  # type: ignore[arg-type]
    ("redeem id bool", lambda s: Promocodes(s).redeem("spring", True)),
    ("activate id over int64", lambda s: Promocodes(s).activate("spring", -(2**63) - 1)),
    ("history score float", lambda s: TrainingHistory(s).save(KNOWN, total_score=1.5)),  # type: ignore[arg-type]
    ("history score over int32", lambda s: TrainingHistory(s).save(KNOWN, total_score=2**31)),
    ("history negative count", lambda s: TrainingHistory(s).save(KNOWN, total_score=1, question_count=-1)),
    ("history bad bot", lambda s: TrainingHistory(s).save(KNOWN, total_score=1, bot_name="a b")),
    ("history huge scenario", lambda s: TrainingHistory(s).save(KNOWN, total_score=1, scenario_name="s" * 256)),
    ("history non-JSON case", lambda s: TrainingHistory(s).save(KNOWN, total_score=1, case_data={"x": b"1"})),
    ("history new user, bad score", lambda s: TrainingHistory(s).save(99, total_score=True)),
    ("apply history id str", lambda s: TrainingHistory(s).apply(KNOWN, "1", 5)),  # type: ignore[arg-type]
    ("apply history id 0", lambda s: TrainingHistory(s).apply(KNOWN, 0, 5)),
    ("apply score float", lambda s: TrainingHistory(s).apply(KNOWN, 1, 0.5)),  # type: ignore[arg-type]
    ("apply score huge", lambda s: TrainingHistory(s).apply(KNOWN, 1, 2**62)),
    ("apply id bool", lambda s: TrainingHistory(s).apply(True, 1, 5)),
    ("list limit 0", lambda s: TrainingHistory(s).list(KNOWN, limit=0)),
    ("list offset negative", lambda s: TrainingHistory(s).list(KNOWN, offset=-1)),
    ("delete id float", lambda s: delete_user(s, 11.0)),  # type: ignore[arg-type]
    ("delete id over int64", lambda s: delete_user(s, 2**64)),
]


@pytest.mark.parametrize("fn", [fn for _, fn in MALFORMED], ids=[name for name, _ in MALFORMED])
async def test_malformed_durable_input_raises_invalid_input_and_writes_nothing(
    seeded_store: HotStore, redis_client: aioredis.Redis, namespace: str, fn: Call
) -> None:
    before = await full_dump(seeded_store, redis_client, namespace)
    with pytest.raises(InvalidInput):
        await fn(seeded_store)
    assert await full_dump(seeded_store, redis_client, namespace) == before


async def test_an_unknown_tariff_is_not_found_and_writes_nothing(
    seeded_store: HotStore, redis_client: aioredis.Redis, namespace: str
) -> None:
    """The documented error for an unknown tariff is NotFound (tests/durable/test_payments.py); a new user is not
    created."""
    before = await full_dump(seeded_store, redis_client, namespace)
    with pytest.raises(NotFound):
        await Payments(seeded_store).record(99, provider="p", payment_id="x", amount="1", tariff="nope")
    assert await full_dump(seeded_store, redis_client, namespace) == before


async def test_the_dump_sees_a_write(seeded_store: HotStore, redis_client: aioredis.Redis, namespace: str) -> None:
    """The comparison is not vacuous: a durable write changes the SQL dump, a hot write the Redis dump."""
    before = await full_dump(seeded_store, redis_client, namespace)
    await Badges(seeded_store).award(KNOWN, "second")
    middle = await full_dump(seeded_store, redis_client, namespace)
    await seeded_store.bot(BOT).add_xp(KNOWN, 1)
    after = await full_dump(seeded_store, redis_client, namespace)
    assert middle[0] != before[0] and after[1] != middle[1]


