"""Subscriptions, credits and access: v4's ``SubscriptionRepository``, race-free.

Two kinds of subscription, at most one active row per (user, kind) (partial unique index
``uq_subscriptions_active_kind``):

- ``time`` (MONTH, YEAR): grants access while ``end_date > now``. A new grant *extends* the active row
  from ``max(end_date, now)`` (a free month on top of a paid year extends the year) instead of replacing it.
- ``credits`` (CREDITS): grants access while ``credits_left > 0``; a new pack adds to the active row.

Access precedence (v4's): a running time subscription, then credits, then free trainings.
``consume_access`` follows exactly the same precedence as ``check_access`` (an expired subscription never
grants), and spends with ``UPDATE … WHERE credits_left > 0 RETURNING``, so nothing is spent twice.
Unknown users get v4's answers (no access, ``False``, ``None``) and are never created here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.clock import Clock, utc_now
from persistence.enums import FreeTrainingSource, SubscriptionType
from persistence.models import FreeTraining, Subscription, User
from persistence.repositories.free_trainings import FRESH, FRESH_UPDATE, FreeTrainingRepository, check_count
from persistence.types import parse_enum
from persistence.upsert import dialect_of, insert_for

KIND_TIME = "time"
KIND_CREDITS = "credits"
DEFAULT_DAYS = {SubscriptionType.MONTH: 30, SubscriptionType.YEAR: 365}
MAX_DAYS = 100 * 366
MAX_CREDITS = 1_000_000
# Create-or-extend retries when the active row is deactivated between our insert attempt and our update.
GRANT_ATTEMPTS = 5


def kind_of(subscription_type: SubscriptionType) -> str:
    return KIND_CREDITS if subscription_type is SubscriptionType.CREDITS else KIND_TIME


async def find_user_id(session: AsyncSession, telegram_id: int) -> int | None:
    """``users.id`` of ``telegram_id``, or ``None``: never creates the user."""
    stmt = select(User.id).where(User.telegram_id == telegram_id)
    user_id = (await session.execute(stmt)).scalar_one_or_none()
    return None if user_id is None else int(user_id)


def no_access() -> dict[str, Any]:
    return {"has_access": False, "access_type": None, "details": {}}


class SubscriptionRepository:
    """Subscriptions, credits and free trainings of users by Telegram id. The caller owns the transaction.

    ``now`` is the clock (aware UTC); tests inject one to move time.
    """

    def __init__(self, session: AsyncSession, *, now: Clock | None = None) -> None:
        self.session = session
        self.now: Clock = now or utc_now
        self.free = FreeTrainingRepository(session)

    # ------------------------------------------------------------ grants (by users.id)

    async def grant_time(self, user_id: int, subscription_type: SubscriptionType, days: int) -> Subscription:
        """Create the user's time subscription, or extend the active one by ``days`` from ``max(end, now)``."""
        days = check_count("days", days, high=MAX_DAYS)
        now = self.now()
        for _ in range(GRANT_ATTEMPTS):
            created = await self._insert_active(
                user_id, subscription_type, start_date=now, end_date=now + timedelta(days=days)
            )
            if created is not None:
                return created
            # The row lock (PostgreSQL) or the write lock the insert attempt took (SQLite) serialises extenders.
            stmt = select(Subscription).where(*self._active(user_id, KIND_TIME)).with_for_update()
            current = (await self.session.execute(stmt, execution_options=FRESH)).scalars().first()
            if current is None:
                continue  # deactivated meanwhile: insert again
            running = current.end_date is not None and current.end_date > now
            base = current.end_date if running and current.end_date is not None else now
            current.end_date = base + timedelta(days=days)
            if not running:
                current.subscription_type = subscription_type
                current.start_date = now
            current.updated_at = now
            await self.session.flush()
            return current
        raise RuntimeError(f"could not grant a time subscription to user {user_id}")

    async def grant_credits(self, user_id: int, credits: int) -> Subscription:
        """Add ``credits`` to the user's active credits subscription, creating it if there is none."""
        credits = check_count("credits", credits, high=MAX_CREDITS)
        now = self.now()
        for _ in range(GRANT_ATTEMPTS):
            stmt = (
                update(Subscription)
                .where(*self._active(user_id, KIND_CREDITS))
                .values(
                    credits_left=func.coalesce(Subscription.credits_left, 0) + credits,
                    credits_total=func.coalesce(Subscription.credits_total, 0) + credits,
                    updated_at=now,
                )
                .returning(Subscription)
            )
            row = (await self.session.execute(stmt, execution_options=FRESH_UPDATE)).scalars().first()
            if row is not None:
                return row
            created = await self._insert_active(user_id, SubscriptionType.CREDITS, start_date=now, credits=credits)
            if created is not None:
                return created
        raise RuntimeError(f"could not grant credits to user {user_id}")

    async def revoke_days(self, subscription_id: int, days: int) -> None:
        """Shorten a subscription by ``days`` (a refund); the end never moves before the start."""
        stmt = select(Subscription).where(Subscription.id == subscription_id).with_for_update()
        row = (await self.session.execute(stmt, execution_options=FRESH)).scalar_one_or_none()
        if row is None or row.end_date is None:
            return
        row.end_date = max(row.end_date - timedelta(days=days), row.start_date)
        row.updated_at = self.now()
        await self.session.flush()

    async def revoke_credits(self, subscription_id: int, credits: int) -> None:
        """Remove up to ``credits`` from a credits subscription (a refund); balances never go below 0."""
        left = func.coalesce(Subscription.credits_left, 0)
        total = func.coalesce(Subscription.credits_total, 0)
        stmt = (
            update(Subscription)
            .where(Subscription.id == subscription_id)
            .values(
                credits_left=case((left > credits, left - credits), else_=0),
                credits_total=case((total > credits, total - credits), else_=0),
                updated_at=self.now(),
            )
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(stmt)

    async def _insert_active(
        self,
        user_id: int,
        subscription_type: SubscriptionType,
        *,
        start_date: datetime,
        end_date: datetime | None = None,
        credits: int | None = None,
    ) -> Subscription | None:
        """Insert an active row unless one of its kind exists (the partial unique index decides)."""
        stmt = (
            insert_for(dialect_of(self.session), Subscription)
            .values(
                user_id=user_id,
                subscription_type=subscription_type,
                kind=kind_of(subscription_type),
                start_date=start_date,
                end_date=end_date,
                is_active=True,
                credits_total=credits,
                credits_left=credits,
                created_at=start_date,
                updated_at=start_date,
            )
            .on_conflict_do_nothing()
            .returning(Subscription)
        )
        row: Subscription | None = (await self.session.execute(stmt, execution_options=FRESH)).scalars().first()
        return row

    @staticmethod
    def _active(user_id: int, kind: str) -> tuple[Any, ...]:
        return (Subscription.user_id == user_id, Subscription.kind == kind, Subscription.is_active.is_(True))

    # ------------------------------------------------------------ v4 API (by telegram id)

    async def get_active_subscription(self, telegram_id: int) -> Subscription | None:
        """The newest active subscription (either kind), or ``None``; never raises on several."""
        stmt = (
            select(Subscription)
            .join(User, User.id == Subscription.user_id)
            .where(User.telegram_id == telegram_id, Subscription.is_active.is_(True))
            .order_by(Subscription.created_at.desc(), Subscription.id.desc())
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def create_subscription(
        self,
        telegram_id: int,
        subscription_type: SubscriptionType | str,
        duration_days: int | None = None,
        credits: int | None = None,
        auto_renew: bool = False,
    ) -> Subscription | None:
        """Grant a subscription (create or extend the active one of its kind); ``None`` for an unknown user.

        MONTH/YEAR without ``duration_days`` get 30/365 days (v4 left ``end_date`` empty: no access ever).
        """
        member = parse_enum(SubscriptionType, subscription_type)
        if member is SubscriptionType.CREDITS:
            check_count("credits", credits, high=MAX_CREDITS)
        else:
            duration_days = DEFAULT_DAYS[member] if duration_days is None else duration_days
            check_count("duration_days", duration_days, high=MAX_DAYS)
        user_id = await find_user_id(self.session, telegram_id)
        if user_id is None:
            return None
        if member is SubscriptionType.CREDITS:
            assert credits is not None
            row = await self.grant_credits(user_id, credits)
        else:
            assert duration_days is not None
            row = await self.grant_time(user_id, member, duration_days)
        if auto_renew and not row.auto_renew:
            row.auto_renew = True
            await self.session.flush()
        return row

    async def consume_credit(self, telegram_id: int) -> bool:
        """Spend access except free trainings: True for a running time subscription, else one credit."""
        user_id = await find_user_id(self.session, telegram_id)
        if user_id is None:
            return False
        return await self._running_time(user_id) is not None or await self._spend_credit(user_id)

    async def check_subscription_valid(self, telegram_id: int) -> bool:
        """Deactivate expired or exhausted subscriptions, then say whether a valid one remains."""
        user_id = await find_user_id(self.session, telegram_id)
        if user_id is None:
            return False
        now = self.now()
        expired = Subscription.end_date.is_(None) | (Subscription.end_date <= now)
        exhausted = func.coalesce(Subscription.credits_left, 0) <= 0
        for kind, dead in ((KIND_TIME, expired), (KIND_CREDITS, exhausted)):
            stmt = (
                update(Subscription)
                .where(*self._active(user_id, kind), dead)
                .values(is_active=False, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            await self.session.execute(stmt)
        return await self._running_time(user_id) is not None or await self._credits(user_id) is not None

    async def get_free_training(self, telegram_id: int) -> FreeTraining | None:
        """The free-training row spent next (oldest with trainings left), or ``None``."""
        user_id = await find_user_id(self.session, telegram_id)
        return None if user_id is None else await self.free.next_row(user_id)

    async def add_free_trainings(
        self, telegram_id: int, count: int, source: FreeTrainingSource | str
    ) -> FreeTraining | None:
        """Add ``count`` free trainings from ``source``; ``None`` for an unknown user."""
        check_count("count", count)
        parse_enum(FreeTrainingSource, source)
        user_id = await find_user_id(self.session, telegram_id)
        return None if user_id is None else await self.free.add(user_id, count, source)

    async def consume_free_training(self, telegram_id: int) -> bool:
        user_id = await find_user_id(self.session, telegram_id)
        return user_id is not None and await self.free.consume(user_id) is not None

    async def check_access(self, telegram_id: int) -> dict[str, Any]:
        """v4's shape: ``{'has_access', 'access_type', 'details'}``; see the module docstring for precedence.

        ``details`` per type: subscription → ``subscription_type`` ('month'|'year'), ``end_date`` (naive UTC
        datetime, as v4), ``days_left`` (int, floored); credits → ``credits_left``; free_trainings →
        ``trainings_left`` (all sources together) and ``source`` (the one spent next).
        """
        user_id = await find_user_id(self.session, telegram_id)
        if user_id is None:
            return no_access()
        now = self.now()
        sub = await self._running_time(user_id)
        if sub is not None and sub.end_date is not None:
            details = {
                "subscription_type": sub.subscription_type.value,
                "end_date": sub.end_date.astimezone(UTC).replace(tzinfo=None),
                "days_left": (sub.end_date - now).days,
            }
            return {"has_access": True, "access_type": "subscription", "details": details}
        credits = await self._credits(user_id)
        if credits is not None:
            return {"has_access": True, "access_type": "credits", "details": {"credits_left": credits.credits_left}}
        row = await self.free.next_row(user_id)
        if row is not None:
            details = {"trainings_left": await self.free.total_left(user_id), "source": row.source.value}
            return {"has_access": True, "access_type": "free_trainings", "details": details}
        return no_access()

    async def consume_access(self, telegram_id: int) -> bool:
        """Use one unit of access in ``check_access``'s order; a time subscription consumes nothing."""
        user_id = await find_user_id(self.session, telegram_id)
        if user_id is None:
            return False
        if await self._running_time(user_id) is not None or await self._spend_credit(user_id):
            return True
        return await self.free.consume(user_id) is not None

    # ------------------------------------------------------------ helpers

    async def _running_time(self, user_id: int) -> Subscription | None:
        stmt = (
            select(Subscription)
            .where(*self._active(user_id, KIND_TIME), Subscription.end_date > self.now())
            .order_by(Subscription.end_date.desc(), Subscription.id.desc())
            .limit(1)
        )
        return (await self.session.execute(stmt, execution_options=FRESH)).scalar_one_or_none()

    async def _credits(self, user_id: int) -> Subscription | None:
        stmt = (
            select(Subscription)
            .where(*self._active(user_id, KIND_CREDITS), Subscription.credits_left > 0)
            .order_by(Subscription.id.desc())
            .limit(1)
        )
        return (await self.session.execute(stmt, execution_options=FRESH)).scalar_one_or_none()

    async def _spend_credit(self, user_id: int) -> bool:
        stmt = (
            update(Subscription)
            .where(*self._active(user_id, KIND_CREDITS), Subscription.credits_left > 0)
            .values(credits_left=Subscription.credits_left - 1, updated_at=self.now())
            .returning(Subscription.id)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(stmt)).first() is not None
