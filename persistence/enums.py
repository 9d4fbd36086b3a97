"""The v4 enums, unchanged in names and values so existing bots keep importing them."""

from __future__ import annotations

import enum


class SubscriptionType(enum.Enum):
    MONTH = "month"
    YEAR = "year"
    CREDITS = "credits"


class PaymentStatus(enum.Enum):
    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"
    REFUNDED = "refunded"


class PromocodeType(enum.Enum):
    TRAININGS = "trainings"
    FREE_MONTH = "free_month"
    CREDITS = "credits"


class FreeTrainingSource(enum.Enum):
    CHANNEL = "channel"
    PROMOCODE = "promocode"
    ADMIN = "admin"
