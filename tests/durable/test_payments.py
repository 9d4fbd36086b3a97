"""Payments: recorded once, status machine PENDING→COMPLETED|FAILED, COMPLETED→REFUNDED, grants exactly once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core.errors import InvalidInput, InvalidTransition, NotFound
from hotstore.core.store import HotStore
from hotstore.durable import Access, Payments
from hotstore.durable.records import PaymentRecord
from persistence.engine import sessionmaker_for
from persistence.enums import PaymentStatus, SubscriptionType
from persistence.models import Payment, Subscription
from persistence.tariffs import Tariff, TariffCatalog

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
PROVIDER = "yookassa"


def clock() -> datetime:
    return NOW


@pytest.fixture
def payments(store: HotStore) -> Payments:
    return Payments(store, now=clock)


async def record(payments: Payments, pid: str = "p1", tariff: str = "month", tg: int = 1) -> PaymentRecord:
    return await payments.record(tg, provider=PROVIDER, payment_id=pid, amount="990.00", tariff=tariff)


async def count_rows(engine: AsyncEngine, model: type[Payment] | type[Subscription]) -> int:
    async with sessionmaker_for(engine)() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_record_is_pending_with_exact_amount(payments: Payments) -> None:
    payment = await payments.record(1, provider=PROVIDER, payment_id="p1", amount="1234567.89", tariff="year")
    assert payment.status is PaymentStatus.PENDING
    assert payment.amount == Decimal("1234567.89")


async def test_recording_twice_returns_the_first_record(payments: Payments, sql_engine: AsyncEngine) -> None:
    first = await record(payments)
    again = await record(payments)
    assert again.id == first.id
    assert await count_rows(sql_engine, Payment) == 1


async def test_recording_same_id_with_other_amount_is_refused(payments: Payments) -> None:
    await record(payments)
    with pytest.raises(InvalidInput):
        await payments.record(1, provider=PROVIDER, payment_id="p1", amount="1.00", tariff="month")


async def test_amount_with_sub_cent_precision_is_refused(payments: Payments) -> None:
    with pytest.raises(InvalidInput):
        await payments.record(1, provider=PROVIDER, payment_id="p1", amount="9.999", tariff="month")


async def test_unknown_tariff_is_refused(payments: Payments, store: HotStore) -> None:
    with pytest.raises(NotFound):
        await payments.record(1, provider=PROVIDER, payment_id="p1", amount="1.00", tariff="lifetime")
    assert await store.get_user(1) is None


async def test_pending_to_completed_grants_the_month(payments: Payments, store: HotStore) -> None:
    await record(payments)
    payment = await payments.complete(PROVIDER, "p1")
    assert payment.status is PaymentStatus.COMPLETED
    assert payment.granted_days == 30
    access = await Access(store, now=clock).check(1)
    assert access["access_type"] == "subscription"
    assert access["details"]["end_date"] == (NOW + timedelta(days=30)).replace(tzinfo=None)
    assert access["details"]["days_left"] == 30


async def test_pending_to_failed_grants_nothing(payments: Payments, store: HotStore) -> None:
    await record(payments)
    assert (await payments.fail(PROVIDER, "p1")).status is PaymentStatus.FAILED
    assert (await Access(store, now=clock).check(1))["has_access"] is False


async def test_completed_to_refunded_revokes_the_days(payments: Payments, store: HotStore) -> None:
    await record(payments)
    await payments.complete(PROVIDER, "p1")
    assert (await payments.refund(PROVIDER, "p1")).status is PaymentStatus.REFUNDED
    assert (await Access(store, now=clock).check(1))["has_access"] is False


async def test_refund_of_a_credits_pack_removes_only_remaining_credits(payments: Payments, store: HotStore) -> None:
    await record(payments, tariff="credits_5")
    await payments.complete(PROVIDER, "p1")
    access = Access(store, now=clock)
    for _ in range(3):
        assert await access.consume(1)
    await payments.refund(PROVIDER, "p1")
    sub = await access.get_active_subscription(1)
    assert sub is not None and sub.credits_left == 0


async def test_refund_keeps_days_granted_by_another_payment(payments: Payments, store: HotStore) -> None:
    await record(payments, "p1", "year")
    await record(payments, "p2", "month")
    await payments.complete(PROVIDER, "p1")
    await payments.complete(PROVIDER, "p2")
    await payments.refund(PROVIDER, "p2")
    details = (await Access(store, now=clock).check(1))["details"]
    assert details["end_date"] == (NOW + timedelta(days=365)).replace(tzinfo=None)


@pytest.mark.parametrize(
    ("setup", "target"),
    [
        ((), PaymentStatus.REFUNDED),  # PENDING → REFUNDED
        ((PaymentStatus.FAILED,), PaymentStatus.COMPLETED),
        ((PaymentStatus.FAILED,), PaymentStatus.REFUNDED),
        ((PaymentStatus.COMPLETED,), PaymentStatus.FAILED),
        ((PaymentStatus.COMPLETED, PaymentStatus.REFUNDED), PaymentStatus.COMPLETED),
        ((PaymentStatus.COMPLETED, PaymentStatus.REFUNDED), PaymentStatus.FAILED),
        ((PaymentStatus.COMPLETED,), PaymentStatus.PENDING),
    ],
)
async def test_refused_transition_raises_and_changes_nothing(
    payments: Payments, setup: tuple[PaymentStatus, ...], target: PaymentStatus
) -> None:
    await record(payments)
    for status in setup:
        await payments.set_status(PROVIDER, "p1", status)
    before = await payments.get(PROVIDER, "p1")
    with pytest.raises(InvalidTransition):
        await payments.set_status(PROVIDER, "p1", target)
    after = await payments.get(PROVIDER, "p1")
    assert before is not None and after is not None and after.status is before.status


@pytest.mark.parametrize("target", [PaymentStatus.COMPLETED, PaymentStatus.FAILED])
async def test_repeating_a_transition_is_an_idempotent_no_op(payments: Payments, target: PaymentStatus) -> None:
    await record(payments)
    first = await payments.set_status(PROVIDER, "p1", target)
    again = await payments.set_status(PROVIDER, "p1", target)
    assert (again.id, again.status) == (first.id, target)


async def test_repeated_refund_revokes_once(payments: Payments, store: HotStore) -> None:
    await record(payments, "p1", "year")
    await record(payments, "p2", "month")
    await payments.complete(PROVIDER, "p1")
    await payments.complete(PROVIDER, "p2")
    await payments.refund(PROVIDER, "p2")
    await payments.refund(PROVIDER, "p2")
    details = (await Access(store, now=clock).check(1))["details"]
    assert details["days_left"] == 365


async def test_completing_an_unknown_payment_is_not_found(payments: Payments) -> None:
    with pytest.raises(NotFound):
        await payments.complete(PROVIDER, "nope")


async def test_tariffs_are_overridable_configuration(store: HotStore) -> None:
    catalog = TariffCatalog.default().with_tariffs(
        Tariff("credits_3", SubscriptionType.CREDITS, Decimal("300.00"), credits=3)
    )
    payments = Payments(store, tariffs=catalog, now=clock)
    await payments.record(1, provider=PROVIDER, payment_id="p1", amount="300", tariff="credits_3")
    assert (await payments.complete(PROVIDER, "p1")).granted_credits == 3
    assert (await Access(store, now=clock).check(1))["details"] == {"credits_left": 3}


async def test_twenty_deliveries_of_one_completed_webhook_grant_once(
    payments: Payments, store: HotStore, sql_engine: AsyncEngine
) -> None:
    async def webhook() -> PaymentRecord:
        await record(payments, "hook", "credits_10")
        return await payments.complete(PROVIDER, "hook")

    results = await asyncio.gather(*(webhook() for _ in range(20)))
    assert {p.id for p in results} == {results[0].id}
    assert all(p.status is PaymentStatus.COMPLETED for p in results)
    assert await count_rows(sql_engine, Payment) == 1
    assert await count_rows(sql_engine, Subscription) == 1
    assert (await Access(store, now=clock).check(1))["details"] == {"credits_left": 10}
