"""The durable services' contract: every call returns a frozen record of plain values, never an ORM row.

Amounts are Decimal, statuses and types enum members, timestamps aware UTC; a record stays readable after the
store (and its engine) is closed, and changing a record's document changes nothing stored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

import hotstore.durable
from hotstore.core.store import HotStore
from hotstore.durable import (
    Access,
    BadgeRecord,
    Badges,
    PaymentRecord,
    Payments,
    PromocodeRecord,
    Promocodes,
    SubscriptionRecord,
    TrainingHistory,
    TrainingRecord,
)
from hotstore.durable import records as records_module
from persistence.enums import PaymentStatus, PromocodeType, SubscriptionType
from persistence.models import Base

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
PAYER = 42
PROVIDER = "yookassa"


def clock() -> datetime:
    return NOW


def is_aware_utc(value: object) -> bool:
    return isinstance(value, datetime) and value.utcoffset() == timedelta(0)


async def pay(store: HotStore, payment_id: str = "p1", tariff: str = "month") -> PaymentRecord:
    payments = Payments(store, now=clock)
    return await payments.record(PAYER, provider=PROVIDER, payment_id=payment_id, amount="990.00", tariff=tariff)


Call = Callable[[HotStore], Awaitable[Any]]


async def _complete(store: HotStore) -> PaymentRecord:
    await pay(store)
    return await Payments(store, now=clock).complete(PROVIDER, "p1")


async def _refund(store: HotStore) -> PaymentRecord:
    await _complete(store)
    return await Payments(store, now=clock).refund(PROVIDER, "p1")


async def _fail(store: HotStore) -> PaymentRecord:
    await pay(store)
    return await Payments(store, now=clock).fail(PROVIDER, "p1")


async def _set_status(store: HotStore) -> PaymentRecord:
    await pay(store)
    return await Payments(store, now=clock).set_status(PROVIDER, "p1", "completed")


async def _get_payment(store: HotStore) -> PaymentRecord | None:
    await pay(store)
    return await Payments(store, now=clock).get(PROVIDER, "p1")


async def _active_subscription(store: HotStore) -> SubscriptionRecord | None:
    await Access(store, now=clock).grant_subscription(PAYER, "credits", credits=3)
    return await Access(store, now=clock).get_active_subscription(PAYER)


async def _get_promocode(store: HotStore) -> PromocodeRecord | None:
    await Promocodes(store, now=clock).create("spring", "trainings", 2)
    return await Promocodes(store, now=clock).get("SPRING")


async def _redeem(store: HotStore) -> Any:
    await Promocodes(store, now=clock).create("spring", "trainings", 2)
    return await Promocodes(store, now=clock).redeem("spring", PAYER)


async def _first_badge(store: HotStore) -> BadgeRecord:
    await Badges(store).award(PAYER, "first_win", bot_name="quiz_bot", metadata={"score": 9})
    return (await Badges(store).list(PAYER))[0]


async def _first_training(store: HotStore) -> TrainingRecord:
    await TrainingHistory(store, now=clock).save(PAYER, total_score=12, per_type_counts={"open": 2})
    return (await TrainingHistory(store, now=clock).list(PAYER))[0]


CALLS: dict[str, Call] = {
    "Payments.record": pay,
    "Payments.get": _get_payment,
    "Payments.complete": _complete,
    "Payments.fail": _fail,
    "Payments.refund": _refund,
    "Payments.set_status": _set_status,
    "Access.grant_subscription": lambda s: Access(s, now=clock).grant_subscription(PAYER, "month"),
    "Access.get_active_subscription": _active_subscription,
    "Promocodes.create": lambda s: Promocodes(s, now=clock).create("spring", "credits", 3),
    "Promocodes.get": _get_promocode,
    "Promocodes.redeem": _redeem,
    "Badges.list": _first_badge,
    "TrainingHistory.save": lambda s: TrainingHistory(s, now=clock).save(PAYER, total_score=5),
    "TrainingHistory.list": _first_training,
}


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_every_durable_call_returns_a_frozen_record_not_an_orm_row(store: HotStore, name: str) -> None:
    record = await CALLS[name](store)
    assert dataclasses.is_dataclass(record) and not isinstance(record, Base)
    first_field = dataclasses.fields(record)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(record, first_field, None)


async def test_a_payment_record_holds_decimal_enum_and_aware_utc_values(store: HotStore) -> None:
    payment = await _complete(store)
    assert isinstance(payment.amount, Decimal) and payment.amount == Decimal("990.00")
    assert payment.status is PaymentStatus.COMPLETED
    assert is_aware_utc(payment.created_at) and is_aware_utc(payment.updated_at)
    assert (payment.provider, payment.payment_id, payment.tariff, payment.currency) == (PROVIDER, "p1", "month", "RUB")
    assert (payment.granted_days, payment.granted_credits) == (30, None) and payment.subscription_id is not None


async def test_a_payment_read_back_names_its_payer_by_telegram_id(store: HotStore) -> None:
    await Access(store).add_free_trainings(7, {"admin": 1})  # another user first: users.id != telegram id order
    recorded = await pay(store)
    found = await Payments(store, now=clock).get(PROVIDER, "p1")
    assert found is not None
    assert (found.telegram_id, found.user_id) == (PAYER, recorded.user_id)


async def test_a_subscription_record_holds_enum_and_aware_utc_values(store: HotStore) -> None:
    subscription = await Access(store, now=clock).grant_subscription(PAYER, "year", duration_days=10)
    assert subscription.subscription_type is SubscriptionType.YEAR
    assert (subscription.kind, subscription.is_active, subscription.telegram_id) == ("time", True, PAYER)
    assert subscription.end_date == NOW + timedelta(days=10) and is_aware_utc(subscription.end_date)
    assert is_aware_utc(subscription.start_date) and is_aware_utc(subscription.created_at)


async def test_a_promocode_record_holds_enum_and_aware_utc_values(store: HotStore) -> None:
    expiry = NOW + timedelta(days=3)
    promo = await Promocodes(store, now=clock).create("gift", PromocodeType.FREE_MONTH, 1, expires_at=expiry)
    assert (promo.code, promo.type, promo.value, promo.current_uses) == ("GIFT", PromocodeType.FREE_MONTH, 1, 0)
    assert promo.expires_at == expiry and is_aware_utc(promo.expires_at)
    assert is_aware_utc(promo.created_at)


async def test_a_subscription_extended_on_a_non_utc_clock_is_reported_in_utc(store: HotStore) -> None:
    moscow = timezone(timedelta(hours=3))
    access = Access(store, now=lambda: NOW.astimezone(moscow))
    await access.grant_subscription(PAYER, "month")
    extended = await access.grant_subscription(PAYER, "month")  # updated in Python, not read back from SQL
    assert extended.updated_at == NOW and is_aware_utc(extended.updated_at)
    assert extended.end_date == NOW + timedelta(days=60) and is_aware_utc(extended.end_date)


async def test_a_badge_record_holds_its_metadata_and_an_aware_utc_time(store: HotStore) -> None:
    badge = await _first_badge(store)
    assert (badge.badge_type, badge.earned_in_bot, badge.metadata) == ("first_win", "quiz_bot", {"score": 9})
    assert badge.telegram_id == PAYER and is_aware_utc(badge.earned_at)


async def test_a_training_record_holds_its_documents_and_aware_utc_times(store: HotStore) -> None:
    training = await _first_training(store)
    assert (training.telegram_id, training.total_score, training.per_type_counts) == (PAYER, 12, {"open": 2})
    assert training.training_date == NOW and is_aware_utc(training.created_at)


async def test_records_stay_readable_after_the_store_and_engine_are_closed(store: HotStore) -> None:
    results = [await CALLS[name](store) for name in ("Payments.complete", "Access.get_active_subscription",
                                                     "Promocodes.get", "Badges.list", "TrainingHistory.list")]
    before = [dataclasses.asdict(record) for record in results]
    await store.close()
    await store.engine.dispose()
    assert [dataclasses.asdict(record) for record in results] == before
    assert results[0].status is PaymentStatus.COMPLETED and results[3].metadata == {"score": 9}


async def test_changing_a_records_document_changes_nothing_stored(store: HotStore) -> None:
    badge = await _first_badge(store)
    badge.metadata["score"] = 1000
    training = await _first_training(store)
    assert training.per_type_counts is not None
    training.per_type_counts["open"] = 99
    assert (await Badges(store).list(PAYER))[0].metadata == {"score": 9}
    assert (await TrainingHistory(store).list(PAYER))[0].per_type_counts == {"open": 2}


def test_every_record_type_is_exported_from_hotstore_durable() -> None:
    for name in records_module.__all__:
        assert name in hotstore.durable.__all__
        assert getattr(hotstore.durable, name) is getattr(records_module, name)
