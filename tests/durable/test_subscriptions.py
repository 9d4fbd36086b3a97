"""Subscriptions, credits and free trainings: create-or-extend per kind, v4's check_access, no double spend."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core.errors import InsufficientAccess, InvalidInput
from hotstore.core.store import HotStore
from hotstore.durable import Access
from persistence.engine import sessionmaker_for
from persistence.enums import FreeTrainingSource, SubscriptionType
from persistence.repositories.subscriptions import SubscriptionRepository
from persistence.upsert import ensure_user_id

START = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def access(store: HotStore, clock: Clock) -> Access:
    return Access(store, now=clock)


async def test_unknown_user_has_no_access_and_is_not_created(access: Access, store: HotStore) -> None:
    assert await access.check(1) == {"has_access": False, "access_type": None, "details": {}}
    assert await access.consume(1) is False
    assert await store.get_user(1) is None


async def test_month_subscription_shape_matches_v4(access: Access) -> None:
    await access.grant_subscription(1, SubscriptionType.MONTH, duration_days=30)
    result = await access.check(1)
    assert result == {
        "has_access": True,
        "access_type": "subscription",
        "details": {
            "subscription_type": "month",
            "end_date": datetime(2026, 3, 31, 9, 30),
            "days_left": 30,
        },
    }


async def test_days_left_is_floored(access: Access, clock: Clock) -> None:
    await access.grant_subscription(1, "month", duration_days=2)
    clock.now = START + timedelta(hours=25)
    assert (await access.check(1))["details"]["days_left"] == 0


async def test_month_without_duration_gets_thirty_days(access: Access) -> None:
    await access.grant_subscription(1, "month")
    assert (await access.check(1))["details"]["days_left"] == 30


async def test_free_month_on_a_paid_year_extends_the_year(access: Access) -> None:
    year = await access.grant_subscription(1, "year", duration_days=365)
    month = await access.grant_subscription(1, "month", duration_days=30)
    assert month.id == year.id
    details = (await access.check(1))["details"]
    assert details["subscription_type"] == "year"
    assert details["days_left"] == 395


async def test_expired_subscription_restarts_from_now_when_extended(access: Access, clock: Clock) -> None:
    await access.grant_subscription(1, "month", duration_days=30)
    clock.now = START + timedelta(days=100)
    await access.grant_subscription(1, "month", duration_days=30)
    assert (await access.check(1))["details"]["days_left"] == 30


async def test_credit_packs_add_up_on_one_active_row(access: Access) -> None:
    first = await access.grant_subscription(1, "credits", credits=2)
    second = await access.grant_subscription(1, "credits", credits=3)
    assert second.id == first.id
    assert await access.check(1) == {"has_access": True, "access_type": "credits", "details": {"credits_left": 5}}


async def test_time_subscription_beats_credits_and_consumes_nothing(access: Access, clock: Clock) -> None:
    await access.grant_subscription(1, "credits", credits=2)
    await access.grant_subscription(1, "month", duration_days=1)
    assert (await access.check(1))["access_type"] == "subscription"
    assert await access.consume(1) is True
    clock.now = START + timedelta(days=2)
    assert (await access.check(1))["details"] == {"credits_left": 2}


async def test_expired_subscription_never_grants(access: Access, clock: Clock) -> None:
    await access.grant_subscription(1, "month", duration_days=1)
    clock.now = START + timedelta(days=2)
    assert (await access.check(1))["has_access"] is False
    assert await access.consume(1) is False


async def test_expired_subscription_falls_through_to_free_trainings(access: Access, clock: Clock) -> None:
    await access.grant_subscription(1, "month", duration_days=1)
    await access.add_free_trainings(1, {FreeTrainingSource.CHANNEL: 1})
    clock.now = START + timedelta(days=2)
    assert (await access.check(1))["access_type"] == "free_trainings"
    assert await access.consume(1) is True
    assert await access.consume(1) is False


async def test_free_trainings_from_several_sources_are_one_row_each(access: Access) -> None:
    total = await access.add_free_trainings(1, {"channel": 2, FreeTrainingSource.PROMOCODE: 3})
    assert total == 5
    assert await access.add_free_trainings(1, {"channel": 1}) == 6
    assert await access.check(1) == {
        "has_access": True,
        "access_type": "free_trainings",
        "details": {"trainings_left": 6, "source": "channel"},
    }


async def test_free_trainings_are_spent_oldest_source_first(access: Access) -> None:
    await access.add_free_trainings(1, {"admin": 1})
    await access.add_free_trainings(1, {"channel": 1})
    assert (await access.check(1))["details"]["source"] == "admin"
    await access.consume(1)
    assert (await access.check(1))["details"] == {"trainings_left": 1, "source": "channel"}


async def test_require_raises_when_nothing_is_left(access: Access) -> None:
    await access.add_free_trainings(1, {"admin": 1})
    await access.require(1)
    with pytest.raises(InsufficientAccess):
        await access.require(1)


async def test_bad_counts_are_refused_before_writing(access: Access, store: HotStore) -> None:
    with pytest.raises(InvalidInput):
        await access.add_free_trainings(1, {"channel": 2, "admin": 0})
    with pytest.raises(InvalidInput):
        await access.add_free_trainings(1, {"nowhere": 2})
    with pytest.raises(InvalidInput):
        await access.grant_subscription(1, "credits", credits=None)
    assert await store.get_user(1) is None


async def test_check_subscription_valid_deactivates_expired(access: Access, clock: Clock) -> None:
    await access.grant_subscription(1, "month", duration_days=1)
    assert await access.check_subscription_valid(1) is True
    clock.now = START + timedelta(days=2)
    assert await access.check_subscription_valid(1) is False
    assert await access.get_active_subscription(1) is None


async def test_fifty_concurrent_consumes_of_five_credits_spend_exactly_five(access: Access) -> None:
    await access.grant_subscription(1, "credits", credits=5)
    results = await asyncio.gather(*(access.consume(1) for _ in range(50)))
    assert results.count(True) == 5
    assert (await access.check(1))["has_access"] is False


async def test_concurrent_consumes_of_free_trainings_spend_each_once(access: Access) -> None:
    await access.add_free_trainings(1, {"channel": 2, "admin": 2})
    results = await asyncio.gather(*(access.consume(1) for _ in range(20)))
    assert results.count(True) == 4


async def test_v4_repository_methods_keep_their_answers(sql_engine: AsyncEngine) -> None:
    async with sessionmaker_for(sql_engine).begin() as session:
        await ensure_user_id(session, 9)
        repo = SubscriptionRepository(session, now=lambda: START)
        assert await repo.create_subscription(404, SubscriptionType.MONTH, 30) is None
        assert await repo.add_free_trainings(404, 1, "channel") is None
        assert await repo.consume_credit(9) is False
        await repo.create_subscription(9, SubscriptionType.CREDITS, credits=1)
        assert (await repo.get_active_subscription(9)) is not None
        assert await repo.consume_credit(9) is True
        assert await repo.consume_credit(9) is False
        await repo.add_free_trainings(9, 1, FreeTrainingSource.ADMIN)
        row = await repo.get_free_training(9)
        assert row is not None and row.trainings_left == 1
        assert await repo.consume_free_training(9) is True
        assert await repo.get_free_training(9) is None
