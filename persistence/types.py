"""Column types that behave the same on PostgreSQL and SQLite.

- ``UTCDateTime``: timezone-aware UTC datetimes on both backends (SQLite hands back naive values).
- ``Money``: exact decimal amounts (SQLite's ``Numeric`` is a float, so it stores text there).
- ``FlexibleEnum``: reads both spellings v4 wrote (member names and lower-case values), writes one.
- ``JSONDocument``: ``JSONB`` on PostgreSQL, ``JSON`` elsewhere; ``OptionalJSONDocument``: the same, but a
  Python ``None`` is stored as SQL ``NULL`` (``JSONDocument`` writes the JSON value ``null``).
- ``BigId``: a 64-bit auto-increment primary key (``INTEGER PRIMARY KEY`` on SQLite, the rowid alias).
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer, Numeric, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

E = TypeVar("E", bound=enum.Enum)

JSONDocument = JSON().with_variant(JSONB(), "postgresql")
OptionalJSONDocument = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
BigId = BigInteger().with_variant(Integer(), "sqlite")

MONEY_QUANTUM = Decimal("0.01")
MONEY_LIMIT = Decimal("1e10")  # NUMERIC(12, 2) holds at most 9,999,999,999.99
INT32_MAX = 2**31 - 1  # the range of an SQL INTEGER column (counters, levels, scores)


class UTCDateTime(TypeDecorator[datetime]):
    """A ``TIMESTAMP WITH TIME ZONE`` that always returns aware UTC datetimes.

    Naive values are taken to be UTC (that is what v4 stored).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite compares timestamps as text: store one canonical form, like CURRENT_TIMESTAMP's.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    """An exact amount with two decimal places: ``NUMERIC(12, 2)`` on PostgreSQL, text on SQLite."""

    impl = Numeric(12, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(Numeric(12, 2, asdecimal=True))

    def process_bind_param(self, value: Decimal | int | str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = to_money(value)
        return str(amount) if dialect.name == "sqlite" else amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value)).quantize(MONEY_QUANTUM)


def to_money(value: Decimal | int | str) -> Decimal:
    """Return ``value`` as an exact two-place ``Decimal`` the column holds; raise ``ValueError`` otherwise.

    Refused: floats, non-finite values, finer precision than cents, ``MONEY_LIMIT`` or more, and negative
    amounts (a refund is a payment status, not a negative payment).
    """
    if isinstance(value, float) or isinstance(value, bool):
        raise ValueError(f"money must be a Decimal, int or str, not {type(value).__name__}: {value!r}")
    try:
        amount = Decimal(value)
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    if amount < 0:
        raise ValueError(f"negative amount: {value!r} (a refund is a status, not a negative payment)")
    if amount >= MONEY_LIMIT:  # before quantize, which cannot represent 1e30 in two places (InvalidOperation)
        raise ValueError(f"amount out of range (below {MONEY_LIMIT} required): {value!r}")
    quantized = amount.quantize(MONEY_QUANTUM)
    if quantized != amount:
        raise ValueError(f"amount has more than two decimal places: {value!r}")
    return quantized


class FlexibleEnum(TypeDecorator[E], Generic[E]):
    """An enum kept as ``VARCHAR`` that accepts both the member name and its value when reading.

    v4 wrote member names (``MONTH``) into PostgreSQL enum columns but values (``trainings``) into
    ``promocodes.type``; ``store`` picks which spelling this column writes.
    """

    impl = String(32)
    cache_ok = True

    def __init__(self, enum_cls: type[E], *, store: str = "name") -> None:
        super().__init__()
        if store not in ("name", "value"):
            raise ValueError("store must be 'name' or 'value'")
        self.enum_cls = enum_cls
        self.store = store

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        member = parse_enum(self.enum_cls, value)
        return member.name if self.store == "name" else str(member.value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        if value is None:
            return None
        return parse_enum(self.enum_cls, value)


def parse_enum(enum_cls: type[E], value: E | str) -> E:
    """Find the member of ``enum_cls`` named or valued ``value`` (case-insensitive); raise ``ValueError``."""
    if isinstance(value, enum_cls):
        return value
    if isinstance(value, str):
        for member in enum_cls:
            if value.upper() == member.name or value.lower() == str(member.value).lower():
                return member
    raise ValueError(f"{value!r} is not a {enum_cls.__name__} (expected one of {[m.value for m in enum_cls]})")
