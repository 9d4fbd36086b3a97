"""SQLAlchemy models for every v4 table, with v4's table and column names and its defects fixed.

Fixes against v4: BIGINT telegram ids, unique keys where v4 raced (sessions, badges, payments, promocode
usage, free trainings per source, one active subscription per kind), an index on every foreign key,
``ON DELETE CASCADE`` in the database, aware UTC timestamps with server defaults, JSONB on PostgreSQL,
exact money, and a ``version`` column on the write-behind tables (users, bot_sessions).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from persistence.enums import FreeTrainingSource, PaymentStatus, PromocodeType, SubscriptionType
from persistence.types import BigId, FlexibleEnum, JSONDocument, Money, OptionalJSONDocument, UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _now() -> Any:
    return mapped_column(UTCDateTime(), nullable=False, server_default=func.now())


def _user_fk() -> Any:
    return mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class V4UserFields(Protocol):
    """What v4's user dict is made of: a :class:`User` row, or the hot store's snapshot of a user."""

    @property
    def id(self) -> int: ...
    @property
    def telegram_id(self) -> int: ...
    @property
    def username(self) -> str | None: ...
    @property
    def first_name(self) -> str | None: ...
    @property
    def last_name(self) -> str | None: ...
    @property
    def total_xp(self) -> int: ...
    @property
    def level(self) -> int: ...
    @property
    def total_trainings(self) -> int: ...
    @property
    def registration_date(self) -> datetime | None: ...
    @property
    def last_activity(self) -> datetime | None: ...


def v4_user_dict(user: V4UserFields) -> dict[str, Any]:
    """v4's ``User.to_dict()`` shape, wherever the user comes from: no ``total_score``, timestamps as ISO strings."""
    return {
        "id": user.id,
        "telegram_id": user.telegram_id,
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "total_xp": user.total_xp,
        "level": user.level,
        "total_trainings": user.total_trainings,
        "registration_date": _iso(user.registration_date),
        "last_activity": _iso(user.last_activity),
    }


class User(Base):
    """One row per Telegram id, shared by every bot: names, cross-bot XP and level, counters."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, nullable=False, unique=True, index=True)
    username: Mapped[str | None] = mapped_column(String(255))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    registration_date: Mapped[datetime] = _now()
    last_activity: Mapped[datetime] = _now()
    total_xp: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"), index=True)
    level: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("1"))
    total_trainings: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    total_score: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
    # Training-history ids already counted in total_trainings/total_score, flushed with them (same row, same
    # version): {"last": <highest id>, "recent": [<last ids applied>]}; NULL before the first.
    training_marks: Mapped[dict[str, Any] | None] = mapped_column(OptionalJSONDocument)
    # The XP earned in one ISO week (all bots): the weekly board's score, flushed with the total (migration 0005).
    week: Mapped[str | None] = mapped_column(String(10))
    week_xp: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
    version: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))

    def to_dict(self) -> dict[str, Any]:
        """v4's shape: no ``total_score``, timestamps as ISO strings."""
        return v4_user_dict(self)


class UserBadge(Base):
    """A badge earned in one bot and visible from all; at most one per (user, type, bot)."""

    __tablename__ = "user_badges"
    __table_args__ = (UniqueConstraint("user_id", "badge_type", "earned_in_bot"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = _user_fk()
    badge_type: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    earned_in_bot: Mapped[str] = mapped_column(String(50), nullable=False)
    earned_at: Mapped[datetime] = _now()
    badge_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)

    def to_dict(self) -> dict[str, Any]:
        return {
            "badge_type": self.badge_type,
            "earned_in_bot": self.earned_in_bot,
            "earned_at": _iso(self.earned_at),
            "metadata": self.badge_metadata or {},
        }


class BotSession(Base):
    """Per-bot state of one user: the current session and the bot's stats, one row per (user, bot)."""

    __tablename__ = "bot_sessions"
    __table_args__ = (UniqueConstraint("user_id", "bot_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = _user_fk()
    bot_name: Mapped[str] = mapped_column(String(50), nullable=False, index=True)
    session_data: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False, server_default=text("'{}'"))
    stats_data: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False, server_default=text("'{}'"))
    xp: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
    # A state label beside session_data, e.g. aiogram's FSM state of the user's private chat (NULL: none).
    fsm_state: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    version: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))

    def to_dict(self) -> dict[str, Any]:
        return {"session": self.session_data, "stats": self.stats_data}


class BotDocument(Base):
    """One bot's document under a string key: a state label and a JSON document, hot in Redis and written behind.

    Framework state that is not a user's own session lives here: aiogram FSM keys of groups, topics, business
    connections and other destinies; python-telegram-bot's chat_data, bot_data, conversations and callback data.
    """

    __tablename__ = "bot_documents"
    __table_args__ = (UniqueConstraint("bot_name", "doc_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    bot_name: Mapped[str] = mapped_column(String(50), nullable=False)
    doc_key: Mapped[str] = mapped_column(String(512), nullable=False)
    state: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False, server_default=text("'{}'"))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    version: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))


class Subscription(Base):
    """Access bought or granted: a time subscription (MONTH/YEAR) or a pack of credits.

    ``kind`` is ``time`` or ``credits``; at most one active subscription per (user, kind).
    """

    __tablename__ = "subscriptions"
    __table_args__ = (
        Index("ix_subscriptions_user_id_is_active", "user_id", "is_active"),
        Index(
            "uq_subscriptions_active_kind",
            "user_id",
            "kind",
            unique=True,
            postgresql_where=text("is_active"),
            sqlite_where=text("is_active"),
        ),
        CheckConstraint("credits_left IS NULL OR credits_left >= 0", name="credits_left_non_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = _user_fk()
    subscription_type: Mapped[SubscriptionType] = mapped_column(FlexibleEnum(SubscriptionType), nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False, server_default=text("'time'"))
    start_date: Mapped[datetime] = _now()
    end_date: Mapped[datetime | None] = mapped_column(UTCDateTime())
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=true())
    auto_renew: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    credits_total: Mapped[int | None] = mapped_column(Integer)
    credits_left: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class Payment(Base):
    """A payment, recorded once per (provider, payment_id); completing it grants its tariff exactly once."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("provider", "payment_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = _user_fk()
    amount: Mapped[Decimal] = mapped_column(Money(), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, server_default=text("'RUB'"))
    provider: Mapped[str] = mapped_column(String(50), nullable=False)
    payment_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[PaymentStatus] = mapped_column(
        FlexibleEnum(PaymentStatus), nullable=False, server_default=text("'PENDING'")
    )
    tariff: Mapped[str] = mapped_column(String(50), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    payment_metadata: Mapped[str | None] = mapped_column(Text)
    subscription_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("subscriptions.id", ondelete="SET NULL"), index=True
    )
    granted_days: Mapped[int | None] = mapped_column(Integer)
    granted_credits: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class Promocode(Base):
    """A code (stored upper-case) that grants trainings, a free month or credits, at most ``max_uses`` times."""

    __tablename__ = "promocodes"
    __table_args__ = (
        CheckConstraint("max_uses IS NULL OR current_uses <= max_uses", name="uses_within_max"),
        CheckConstraint("value >= 0", name="value_non_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(50), nullable=False, unique=True, index=True)
    type: Mapped[PromocodeType] = mapped_column(FlexibleEnum(PromocodeType, store="value"), nullable=False)
    value: Mapped[int] = mapped_column(Integer, nullable=False)
    max_uses: Mapped[int | None] = mapped_column(Integer)
    current_uses: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = _now()


class PromocodeUsage(Base):
    """One redemption of a promocode by a user; at most one per (user, promocode)."""

    __tablename__ = "promocode_usage"
    __table_args__ = (UniqueConstraint("user_id", "promocode_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = _user_fk()
    promocode_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("promocodes.id", ondelete="CASCADE"), nullable=False, index=True
    )
    used_at: Mapped[datetime] = _now()


class FreeTraining(Base):
    """Free trainings left for a user, one row per (user, source)."""

    __tablename__ = "free_trainings"
    __table_args__ = (
        UniqueConstraint("user_id", "source"),
        CheckConstraint("trainings_left >= 0", name="trainings_left_non_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = _user_fk()
    trainings_left: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    source: Mapped[FreeTrainingSource] = mapped_column(FlexibleEnum(FreeTrainingSource), nullable=False)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class TrainingHistory(Base):
    """One finished training; listed newest first, ties broken by id."""

    __tablename__ = "training_history"
    __table_args__ = (Index("ix_training_history_telegram_id_training_date", "telegram_id", "training_date"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = _user_fk()
    telegram_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    bot_name: Mapped[str | None] = mapped_column(String(50))
    training_date: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, server_default=func.now(), index=True
    )
    scenario_name: Mapped[str | None] = mapped_column(String(255))
    total_score: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    clarity_level: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    question_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    contextual_questions: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    per_type_counts: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    case_data: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    session_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = _now()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "telegram_id": self.telegram_id,
            "training_date": _iso(self.training_date),
            "scenario_name": self.scenario_name,
            "total_score": self.total_score,
            "clarity_level": self.clarity_level,
            "question_count": self.question_count,
            "contextual_questions": self.contextual_questions,
            "per_type_counts": self.per_type_counts,
            "case_data": self.case_data,
        }
