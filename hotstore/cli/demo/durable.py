"""The demo's durable actions (badges, subscriptions, training history), through ``hotstore.durable``.

Each action is one SQL transaction, exactly-once by constraint; training history also counts the training in
the user's hot counters. When the durable services are not installed every action is skipped, so the demo
still runs and verifies the hot path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from persistence.enums import PaymentStatus
from persistence.models import Payment, User, UserBadge

if TYPE_CHECKING:
    from hotstore.core.store import HotStore

BADGE_LEVELS = (2, 3, 5, 10)
TARIFFS = ("month", "credits_5")
PROVIDER = "demo"


class DurableActions:
    """Badges on level-ups, subscription purchases and training history; counts what it recorded."""

    def __init__(self, store: HotStore, services: dict[str, Any] | None) -> None:
        self.store = store
        self.services = services
        self.badges = 0
        self.subscriptions = 0
        self.histories = 0
        self._baseline = (0, 0)

    @classmethod
    def discover(cls, store: HotStore) -> DurableActions:
        """Actions on the durable services, or skipped actions when they are not installed."""
        try:
            from hotstore.durable import Badges, Payments, TrainingHistory
        except ImportError:
            return cls(store, None)
        return cls(store, {"badges": Badges(store), "payments": Payments(store), "history": TrainingHistory(store)})

    async def award_level_badge(self, telegram_id: int, bot_name: str, level: int) -> None:
        """A ``level_<n>`` badge in this bot when the user reaches a badge level (awarded once)."""
        if self.services is None or level not in BADGE_LEVELS:
            return
        if await self.services["badges"].award(telegram_id, f"level_{level}", bot_name=bot_name,
                                               metadata={"level": level}):
            self.badges += 1

    async def buy_subscription(self, telegram_id: int, payment_id: str, tariff: str) -> None:
        """Record a payment and complete it, which grants the tariff's subscription or credits."""
        if self.services is None:
            return
        payments = self.services["payments"]
        price = payments.tariffs[tariff].price
        await payments.record(telegram_id, provider=PROVIDER, payment_id=payment_id, amount=price, tariff=tariff)
        await payments.complete(PROVIDER, payment_id)
        self.subscriptions += 1

    async def record_training(self, telegram_id: int, bot_name: str, score: int, questions: int) -> None:
        """Save a training history row; the user's ``total_trainings``/``total_score`` count it once."""
        if self.services is None:
            return
        await self.services["history"].save(telegram_id, total_score=score, question_count=questions,
                                            scenario_name="demo", bot_name=bot_name)
        self.histories += 1

    async def _count_rows(self, telegram_ids: Sequence[int]) -> tuple[int, int]:
        """(badges, completed demo payments) of these users in SQL."""
        async with self.store.engine.connect() as conn:
            demo_users = select(User.id).where(User.telegram_id.in_(list(telegram_ids))).scalar_subquery()
            badges = await conn.scalar(select(func.count()).where(UserBadge.user_id.in_(demo_users)))
            paid = await conn.scalar(select(func.count()).where(
                Payment.user_id.in_(demo_users), Payment.provider == PROVIDER,
                Payment.status == PaymentStatus.COMPLETED))
        return int(badges or 0), int(paid or 0)

    async def start(self, telegram_ids: Sequence[int]) -> None:
        """Remember the rows already there (a re-run on the same database), so :meth:`check` counts new ones."""
        if self.services is not None:
            self._baseline = await self._count_rows(telegram_ids)

    async def check(self, telegram_ids: Sequence[int]) -> list[str]:
        """Differences between what this run recorded and the new rows in SQL (badges, completed payments)."""
        if self.services is None:
            return []
        badges, paid = (now - before for now, before in zip(await self._count_rows(telegram_ids), self._baseline,
                                                             strict=True))
        differences = []
        if badges != self.badges:
            differences.append(f"badges: {self.badges} awarded, {badges} new in SQL")
        if paid != self.subscriptions:
            differences.append(f"payments: {self.subscriptions} completed, {paid} new in SQL")
        return differences

    def summary(self) -> str:
        """One line: what the durable services recorded."""
        if self.services is None:
            return "durable services not available: badges, subscriptions and history skipped"
        return (f"{self.badges} badges, {self.subscriptions} subscriptions bought, "
                f"{self.histories} trainings saved to history")
