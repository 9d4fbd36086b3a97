"""What the durable services hand back: immutable records of payments, subscriptions, promocodes, badges, trainings.

Each record is a frozen, slotted dataclass built by ``from_row`` from the SQLAlchemy row while the service's
session is still open, so nothing is lazy-loaded later and the caller holds plain values that stay readable
after the store is closed::

    payment = await Payments(store).complete("yookassa", "pay-1")   # a PaymentRecord
    payment.status is PaymentStatus.COMPLETED; payment.amount == Decimal("990.00")

Field names are the ORM attribute names (``payment.status``, ``subscription.credits_left``), except where the
service already used another name: a badge's ``metadata`` (the column attribute is ``badge_metadata``).
Timestamps are aware UTC datetimes, amounts :class:`~decimal.Decimal`, statuses and types the
:mod:`persistence.enums` members. JSON documents are deep copies: changing one changes nothing stored.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from persistence.enums import PaymentStatus, PromocodeType, SubscriptionType
from persistence.models import Payment, Promocode, Subscription, TrainingHistory, UserBadge
from persistence.types import parse_enum


def _utc(value: datetime) -> datetime:
    """An aware UTC datetime (a naive one is taken to be UTC, as the columns store it)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _optional_utc(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def _document(value: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else copy.deepcopy(value)


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    """One payment: who paid what for which tariff, its status, and what its completion granted.

    ``updated_at`` is the time of the last status change (for a COMPLETED payment: when it completed).
    ``subscription_id``, ``granted_days`` and ``granted_credits`` are ``None`` until a completion grants them.
    """

    id: int
    user_id: int
    telegram_id: int
    provider: str
    payment_id: str | None
    amount: Decimal
    currency: str
    tariff: str
    status: PaymentStatus
    description: str | None
    payment_metadata: str | None
    subscription_id: int | None
    granted_days: int | None
    granted_credits: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Payment, telegram_id: int) -> PaymentRecord:
        """The record of ``row`` (whose user has ``telegram_id``); call it inside the row's session."""
        return cls(
            id=row.id,
            user_id=row.user_id,
            telegram_id=telegram_id,
            provider=row.provider,
            payment_id=row.payment_id,
            amount=Decimal(row.amount),
            currency=row.currency,
            tariff=row.tariff,
            status=parse_enum(PaymentStatus, row.status),
            description=row.description,
            payment_metadata=row.payment_metadata,
            subscription_id=row.subscription_id,
            granted_days=row.granted_days,
            granted_credits=row.granted_credits,
            created_at=_utc(row.created_at),
            updated_at=_utc(row.updated_at),
        )


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    """A time subscription (``kind == "time"``: access while ``end_date > now``) or a pack of credits
    (``kind == "credits"``: access while ``credits_left > 0``)."""

    id: int
    user_id: int
    telegram_id: int
    subscription_type: SubscriptionType
    kind: str
    start_date: datetime
    end_date: datetime | None
    is_active: bool
    auto_renew: bool
    credits_total: int | None
    credits_left: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Subscription, telegram_id: int) -> SubscriptionRecord:
        """The record of ``row`` (whose user has ``telegram_id``); call it inside the row's session."""
        return cls(
            id=row.id,
            user_id=row.user_id,
            telegram_id=telegram_id,
            subscription_type=parse_enum(SubscriptionType, row.subscription_type),
            kind=row.kind,
            start_date=_utc(row.start_date),
            end_date=_optional_utc(row.end_date),
            is_active=bool(row.is_active),
            auto_renew=bool(row.auto_renew),
            credits_total=row.credits_total,
            credits_left=row.credits_left,
            created_at=_utc(row.created_at),
            updated_at=_utc(row.updated_at),
        )


@dataclass(frozen=True, slots=True)
class PromocodeRecord:
    """A promocode as stored: upper-case ``code``, what it grants, and how often it was used.

    ``max_uses=None`` is unlimited, ``0`` allows no use; ``expires_at=None`` never expires.
    """

    id: int
    code: str
    type: PromocodeType
    value: int
    max_uses: int | None
    current_uses: int
    expires_at: datetime | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Promocode) -> PromocodeRecord:
        """The record of ``row``; call it inside the row's session."""
        return cls(
            id=row.id,
            code=row.code,
            type=parse_enum(PromocodeType, row.type),
            value=row.value,
            max_uses=row.max_uses,
            current_uses=row.current_uses,
            expires_at=_optional_utc(row.expires_at),
            created_at=_utc(row.created_at),
        )


@dataclass(frozen=True, slots=True)
class BadgeRecord:
    """A badge earned in ``earned_in_bot`` (visible from every bot), with the metadata given at the award."""

    id: int
    telegram_id: int
    badge_type: str
    earned_in_bot: str
    earned_at: datetime
    metadata: dict[str, Any]

    @classmethod
    def from_row(cls, row: UserBadge, telegram_id: int) -> BadgeRecord:
        """The record of ``row`` (whose user has ``telegram_id``); call it inside the row's session."""
        return cls(
            id=row.id,
            telegram_id=telegram_id,
            badge_type=row.badge_type,
            earned_in_bot=row.earned_in_bot,
            earned_at=_utc(row.earned_at),
            metadata=_document(row.badge_metadata) or {},
        )


@dataclass(frozen=True, slots=True)
class TrainingRecord:
    """One finished training from the history: its scores and counts, and the documents saved with it."""

    id: int
    telegram_id: int
    bot_name: str | None
    training_date: datetime
    scenario_name: str | None
    total_score: int
    clarity_level: int
    question_count: int
    contextual_questions: int
    per_type_counts: dict[str, Any] | None
    case_data: dict[str, Any] | None
    session_snapshot: dict[str, Any] | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: TrainingHistory) -> TrainingRecord:
        """The record of ``row``; call it inside the row's session."""
        return cls(
            id=row.id,
            telegram_id=row.telegram_id,
            bot_name=row.bot_name,
            training_date=_utc(row.training_date),
            scenario_name=row.scenario_name,
            total_score=row.total_score,
            clarity_level=row.clarity_level,
            question_count=row.question_count,
            contextual_questions=row.contextual_questions,
            per_type_counts=_document(row.per_type_counts),
            case_data=_document(row.case_data),
            session_snapshot=_document(row.session_snapshot),
            created_at=_utc(row.created_at),
        )


__all__ = ["BadgeRecord", "PaymentRecord", "PromocodeRecord", "SubscriptionRecord", "TrainingRecord"]
