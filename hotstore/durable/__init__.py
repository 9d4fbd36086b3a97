"""Durable-domain services (badges, payments, access, promocodes, training history, user deletion).

The implementation lives in :mod:`hotstore.durable._services`; this module is the stable import path::

    from hotstore.durable import Access, Badges, Payments, Promocodes, TrainingHistory, delete_user
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
from persistence.repositories.promocodes import Redemption
from persistence.tariffs import Tariff, TariffCatalog

__all__ = [
    "Access",
    "Badges",
    "Payments",
    "Promocodes",
    "Redemption",
    "Tariff",
    "TariffCatalog",
    "TrainingHistory",
    "TrainingRecorded",
    "delete_user",
]
