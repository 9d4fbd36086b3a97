"""Access: subscriptions, credits and free trainings, checked and consumed with one precedence.

Precedence (v4's): a time subscription with ``end_date > now``, then credits, then free trainings (the
oldest source first). :meth:`Access.consume` agrees with :meth:`Access.check`: it succeeds exactly when
``check`` reports access, spends nothing for a time subscription, and never spends a unit twice.

Subscriptions come back as :class:`~hotstore.durable.records.SubscriptionRecord`. :meth:`Access.check` keeps
v4's documented dict (``has_access``, ``access_type``, ``details``): bots branch on its keys, and the README
promises that shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hotstore.core.errors import InsufficientAccess, InvalidInput
from hotstore.core.validation import check_telegram_id
from hotstore.durable.base import DomainService
from hotstore.durable.records import SubscriptionRecord
from persistence.enums import FreeTrainingSource, SubscriptionType
from persistence.repositories.free_trainings import FreeTrainingRepository
from persistence.repositories.subscriptions import SubscriptionRepository
from persistence.upsert import ensure_user_id


class Access(DomainService):
    """``await Access(store).check(42)`` → ``{'has_access': True, 'access_type': 'credits', 'details': {...}}``."""

    async def check(self, telegram_id: int) -> dict[str, Any]:
        """v4's ``check_access`` shape; an unknown user has no access (and is not created)."""
        check_telegram_id(telegram_id)
        async with self.transaction() as session:
            return await SubscriptionRepository(session, now=self.now).check_access(telegram_id)

    async def consume(self, telegram_id: int) -> bool:
        """v4's ``consume_access``: True if access was there (and one credit or free training was spent)."""
        check_telegram_id(telegram_id)
        async with self.transaction() as session:
            return await SubscriptionRepository(session, now=self.now).consume_access(telegram_id)

    async def require(self, telegram_id: int) -> None:
        """Consume one unit of access or raise :class:`~hotstore.core.errors.InsufficientAccess`."""
        if not await self.consume(telegram_id):
            raise InsufficientAccess(f"user {telegram_id} has no subscription, credit or free training left")

    async def grant_subscription(
        self,
        telegram_id: int,
        subscription_type: SubscriptionType | str,
        *,
        duration_days: int | None = None,
        credits: int | None = None,
    ) -> SubscriptionRecord:
        """Create or extend the user's subscription of that kind (the user is created if absent)."""
        check_telegram_id(telegram_id)
        async with self.transaction() as session:
            await ensure_user_id(session, telegram_id)
            repo = SubscriptionRepository(session, now=self.now)
            row = await repo.create_subscription(telegram_id, subscription_type, duration_days, credits)
            assert row is not None  # the user exists: ensured above
            return SubscriptionRecord.from_row(row, telegram_id)

    async def add_free_trainings(self, telegram_id: int, counts: Mapping[FreeTrainingSource | str, int]) -> int:
        """Add free trainings from one or several sources at once; returns the user's total left."""
        check_telegram_id(telegram_id)
        if not isinstance(counts, Mapping):
            raise InvalidInput(f"counts must be a mapping of source to count, not {type(counts).__name__}")
        async with self.transaction() as session:
            user_id = await ensure_user_id(session, telegram_id)
            repo = FreeTrainingRepository(session)
            await repo.add_many(user_id, counts)
            return await repo.total_left(user_id)

    async def get_active_subscription(self, telegram_id: int) -> SubscriptionRecord | None:
        """The newest active subscription (time or credits), or None."""
        check_telegram_id(telegram_id)
        async with self.transaction() as session:
            row = await SubscriptionRepository(session, now=self.now).get_active_subscription(telegram_id)
            return None if row is None else SubscriptionRecord.from_row(row, telegram_id)

    async def check_subscription_valid(self, telegram_id: int) -> bool:
        """v4: deactivate expired or used-up subscriptions and say whether a valid one remains."""
        check_telegram_id(telegram_id)
        async with self.transaction() as session:
            return await SubscriptionRepository(session, now=self.now).check_subscription_valid(telegram_id)
