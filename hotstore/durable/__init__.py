"""Durable-domain services (badges, payments, access, promocodes, training history, user deletion).

The implementation lives in :mod:`hotstore.durable._services`; this module is the stable import path::

    from hotstore.durable import Access, Badges, Payments, Promocodes, TrainingHistory, delete_user

The services return immutable records (:mod:`hotstore.durable.records`), never ORM rows:
``PaymentRecord``, ``SubscriptionRecord``, ``PromocodeRecord``, ``BadgeRecord``, ``TrainingRecord``, and the
results ``Redemption`` and ``TrainingRecorded``.
"""

from hotstore.durable._services import (
    Access,
    Badges,
    Payments,
    Promocodes,
    TrainingHistory,
    TrainingRecorded,
    delete_user,
)
from hotstore.durable.records import (
    BadgeRecord,
    PaymentRecord,
    PromocodeRecord,
    SubscriptionRecord,
    TrainingRecord,
)
from persistence.repositories.promocodes import Redemption
from persistence.tariffs import Tariff, TariffCatalog

__all__ = [
    "Access",
    "BadgeRecord",
    "Badges",
    "PaymentRecord",
    "Payments",
    "PromocodeRecord",
    "Promocodes",
    "Redemption",
    "SubscriptionRecord",
    "Tariff",
    "TariffCatalog",
    "TrainingHistory",
    "TrainingRecord",
    "TrainingRecorded",
    "delete_user",
]
