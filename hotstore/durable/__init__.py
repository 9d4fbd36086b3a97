"""The durable domain as services over a :class:`~hotstore.core.store.HotStore`: one SQL transaction per call.

::

    badges = Badges(store);        await badges.award(42, "spin_master")          # True once
    payments = Payments(store);    await payments.complete("yookassa", "pay-1")   # grants once
    access = Access(store);        await access.check(42); await access.consume(42)
    promos = Promocodes(store);    await promos.redeem("SPRING", 42)
    history = TrainingHistory(store); await history.save(42, total_score=180)
    await delete_user(store, 42)

The services return immutable records (:mod:`hotstore.durable.records`), never ORM rows:
``PaymentRecord``, ``SubscriptionRecord``, ``PromocodeRecord``, ``BadgeRecord``, ``TrainingRecord``, and the
results ``Redemption`` and ``TrainingRecorded``.
"""

from hotstore.durable.access import Access
from hotstore.durable.badges import Badges
from hotstore.durable.deletion import delete_user
from hotstore.durable.history import TrainingHistory, TrainingRecorded
from hotstore.durable.payments import Payments
from hotstore.durable.promocodes import Promocodes
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
