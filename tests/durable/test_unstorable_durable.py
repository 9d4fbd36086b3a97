"""Durable calls refuse what SQL cannot hold before any SQL is written, as InvalidInput naming the field: NUL and
lone surrogates, promocodes too long once upper-cased, amounts that are not finite, out of the column's range or
negative (issue 12, findings 1 and 8)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from hotstore.core.errors import InvalidInput
from hotstore.core.store import HotStore
from hotstore.durable import Badges, Payments, Promocodes, TrainingHistory
from persistence.enums import PromocodeType
from persistence.models import Payment, Promocode, User, UserBadge
from persistence.models import TrainingHistory as HistoryRow

POISON = ["a\x00b", "a\ud800b"]


async def _count(store: HotStore, model: type) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(model))).scalar_one())


@pytest.mark.parametrize("text", POISON)
async def test_badge_metadata_sql_cannot_hold_is_refused(store: HotStore, text: str) -> None:
    with pytest.raises(InvalidInput, match=r"metadata\.note"):
        await Badges(store).award(5, "first_win", metadata={"note": [text]})
    assert (await _count(store, UserBadge), await _count(store, User)) == (0, 0)


@pytest.mark.parametrize("text", POISON)
async def test_a_training_document_sql_cannot_hold_is_refused(store: HotStore, text: str) -> None:
    with pytest.raises(InvalidInput, match="case_data"):
        await TrainingHistory(store).save(5, total_score=3, case_data={text: 1})
    with pytest.raises(InvalidInput, match="scenario_name"):
        await TrainingHistory(store).save(5, total_score=3, scenario_name=text)
    assert (await _count(store, HistoryRow), await _count(store, User)) == (0, 0)


@pytest.mark.parametrize("text", POISON)
async def test_a_promocode_sql_cannot_hold_is_refused(store: HotStore, text: str) -> None:
    with pytest.raises(InvalidInput, match="code"):
        await Promocodes(store).create(f"spring{text}", PromocodeType.TRAININGS, 5)
    assert await _count(store, Promocode) == 0


async def test_a_promocode_that_upper_casing_makes_too_long_is_invalid_input(store: HotStore) -> None:
    with pytest.raises(InvalidInput, match="50"):
        await Promocodes(store).create("ß" * 30, PromocodeType.TRAININGS, 5)  # "SS" * 30: 60 characters
    assert await _count(store, Promocode) == 0


async def test_a_promocode_of_fifty_characters_after_upper_casing_is_accepted(store: HotStore) -> None:
    created = await Promocodes(store).create("ß" * 25, PromocodeType.TRAININGS, 5)
    assert created.code == "SS" * 25


@pytest.mark.parametrize("amount", ["1e30", "-1", "-0.01", "NaN", "Infinity", "sNaN", "10000000000", Decimal("1E+10")])
async def test_an_amount_the_column_cannot_hold_is_invalid_input(store: HotStore, amount: str | Decimal) -> None:
    with pytest.raises(InvalidInput, match="amount"):
        await Payments(store).record(5, provider="yookassa", payment_id="p-1", amount=amount, tariff="month")
    assert (await _count(store, Payment), await _count(store, User)) == (0, 0)


async def test_the_largest_amount_the_column_holds_is_accepted(store: HotStore) -> None:
    record = await Payments(store).record(5, provider="yookassa", payment_id="p-1", amount="9999999999.99",
                                          tariff="month")
    assert record.amount == Decimal("9999999999.99")


@pytest.mark.parametrize("text", POISON)
async def test_payment_text_sql_cannot_hold_is_refused(store: HotStore, text: str) -> None:
    with pytest.raises(InvalidInput, match="description"):
        await Payments(store).record(5, provider="yookassa", payment_id="p-1", amount="1.00", tariff="month",
                                     description=text)
    with pytest.raises(InvalidInput, match="payment_id"):
        await Payments(store).record(5, provider="yookassa", payment_id=text, amount="1.00", tariff="month")
    assert await _count(store, Payment) == 0
