"""Durable SQL half of hotstore: models, engine and sessions, repositories, migrations.

Keeps the v4 imports working::

    from persistence import init_db, get_session, close_db, User, SubscriptionType
"""

from persistence.engine import close_db, create_engine, database_url, get_engine, get_session, init_db
from persistence.enums import FreeTrainingSource, PaymentStatus, PromocodeType, SubscriptionType
from persistence.models import (
    Base,
    BotDocument,
    BotSession,
    FreeTraining,
    Payment,
    Promocode,
    PromocodeUsage,
    Subscription,
    TrainingHistory,
    User,
    UserBadge,
)

__all__ = [
    "Base",
    "BotDocument",
    "BotSession",
    "FreeTraining",
    "FreeTrainingSource",
    "Payment",
    "PaymentStatus",
    "Promocode",
    "PromocodeType",
    "PromocodeUsage",
    "Subscription",
    "SubscriptionType",
    "TrainingHistory",
    "User",
    "UserBadge",
    "close_db",
    "create_engine",
    "database_url",
    "get_engine",
    "get_session",
    "init_db",
]
