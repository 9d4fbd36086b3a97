"""Promocodes: case-insensitive, never redeemed past max_uses nor twice by one user; refusals change nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from hotstore.core.errors import InvalidInput, PromocodeRejected
from hotstore.core.store import HotStore
from hotstore.durable import Access, Promocodes
from persistence.enums import PromocodeType

NOW = datetime(2026, 2, 1, tzinfo=UTC)


def clock() -> datetime:
    return NOW


@pytest.fixture
def promos(store: HotStore) -> Promocodes:
    return Promocodes(store, now=clock)


async def test_code_is_stored_upper_case_and_found_in_any_case(promos: Promocodes) -> None:
    created = await promos.create(" spring ", PromocodeType.TRAININGS, 5)
    assert created.code == "SPRING"
    found = await promos.get("Spring")
    assert found is not None and found.id == created.id


async def test_duplicate_code_in_other_case_is_refused(promos: Promocodes) -> None:
    await promos.create("spring", "trainings", 5)
    with pytest.raises(InvalidInput):
        await promos.create("SPRING", "trainings", 1)


async def test_trainings_code_adds_free_trainings_from_promocode(promos: Promocodes, store: HotStore) -> None:
    await promos.create("five", "trainings", 5)
    redemption = await promos.redeem("FIVE", 1)
    assert (redemption.code, redemption.value) == ("FIVE", 5)
    assert (await Access(store, now=clock).check(1))["details"] == {"trainings_left": 5, "source": "promocode"}


async def test_free_month_extends_an_active_paid_year(promos: Promocodes, store: HotStore) -> None:
    access = Access(store, now=clock)
    await access.grant_subscription(1, "year")
    await promos.create("month", PromocodeType.FREE_MONTH, 1)
    await promos.redeem("month", 1)
    details = (await access.check(1))["details"]
    assert (details["subscription_type"], details["days_left"]) == ("year", 395)


async def test_credits_code_adds_credits(promos: Promocodes, store: HotStore) -> None:
    await promos.create("cr", PromocodeType.CREDITS, 3)
    await promos.redeem("cr", 1)
    assert (await Access(store, now=clock).check(1))["details"] == {"credits_left": 3}


async def test_unknown_code_is_rejected(promos: Promocodes) -> None:
    with pytest.raises(PromocodeRejected) as info:
        await promos.redeem("nope", 1)
    assert info.value.reason == "unknown"


async def test_second_redemption_by_the_same_user_is_rejected_and_grants_nothing(
    promos: Promocodes, store: HotStore
) -> None:
    await promos.create("once", "trainings", 2)
    await promos.redeem("once", 1)
    with pytest.raises(PromocodeRejected) as info:
        await promos.redeem("once", 1)
    assert info.value.reason == "already_used"
    assert (await Access(store, now=clock).check(1))["details"]["trainings_left"] == 2
    promo = await promos.get("once")
    assert promo is not None and promo.current_uses == 1


async def test_expired_code_is_rejected_and_changes_nothing(promos: Promocodes, store: HotStore) -> None:
    await promos.create("old", "trainings", 2, expires_at=NOW - timedelta(seconds=1))
    with pytest.raises(PromocodeRejected) as info:
        await promos.redeem("old", 1)
    assert info.value.reason == "expired"
    assert await store.get_user(1) is None
    promo = await promos.get("old")
    assert promo is not None and promo.current_uses == 0


async def test_max_uses_zero_allows_no_use(promos: Promocodes) -> None:
    await promos.create("zero", "trainings", 1, max_uses=0)
    with pytest.raises(PromocodeRejected) as info:
        await promos.redeem("zero", 1)
    assert info.value.reason == "exhausted"


async def test_max_uses_none_is_unlimited(promos: Promocodes) -> None:
    await promos.create("many", "trainings", 1)
    for user in range(1, 6):
        await promos.redeem("many", user)
    promo = await promos.get("many")
    assert promo is not None and promo.current_uses == 5


async def test_v4_style_activate_returns_ok_and_message(promos: Promocodes) -> None:
    await promos.create("gift", "trainings", 3, max_uses=1)
    ok, message = await promos.activate("gift", 1)
    assert ok and "GIFT" in message
    assert await promos.activate("gift", 2) == (False, "Promocode has been used up")


async def test_hundred_concurrent_redemptions_of_max_ten_give_exactly_ten(promos: Promocodes) -> None:
    await promos.create("rush", "trainings", 1, max_uses=10)

    async def attempt(user: int) -> bool:
        try:
            await promos.redeem("rush", user)
        except PromocodeRejected as exc:
            assert exc.reason == "exhausted"
            return False
        return True

    results = await asyncio.gather(*(attempt(user) for user in range(1, 101)))
    assert results.count(True) == 10
    promo = await promos.get("rush")
    assert promo is not None and promo.current_uses == 10


async def test_concurrent_redemptions_by_one_user_succeed_once(promos: Promocodes, store: HotStore) -> None:
    await promos.create("dup", "trainings", 1)
    await store.user_id(1)
    results = await asyncio.gather(*(promos.activate("dup", 1) for _ in range(10)), return_exceptions=False)
    assert [ok for ok, _ in results].count(True) == 1
    assert (await Access(store, now=clock).check(1))["details"]["trainings_left"] == 1
