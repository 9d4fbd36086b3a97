"""Payments: recorded once per (provider, payment_id); completing grants the tariff exactly once.

Status machine: PENDING → COMPLETED | FAILED, COMPLETED → REFUNDED; nothing else. Every transition is one
``UPDATE payments SET status = :to WHERE … AND status = :from RETURNING``: only the caller whose update
returns the row applies the side effect (the grant, or its revocation), so a webhook delivered twenty
times grants once. Repeating a transition that already happened returns the payment unchanged.

What a completion granted is written on the payment (``subscription_id``, ``granted_days``,
``granted_credits``) so that a refund can take exactly that back.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import String, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.clock import Clock, utc_now
from persistence.enums import PaymentStatus, SubscriptionType
from persistence.models import Payment
from persistence.repositories.free_trainings import FRESH, FRESH_UPDATE
from persistence.repositories.subscriptions import SubscriptionRepository
from persistence.tariffs import TariffCatalog
from persistence.types import parse_enum, to_money
from persistence.upsert import dialect_of, ensure_user_id, insert_for

# Allowed transitions: target status → the status it must come from.
TRANSITIONS: dict[PaymentStatus, PaymentStatus] = {
    PaymentStatus.COMPLETED: PaymentStatus.PENDING,
    PaymentStatus.FAILED: PaymentStatus.PENDING,
    PaymentStatus.REFUNDED: PaymentStatus.COMPLETED,
}


class PaymentNotFound(LookupError):
    def __init__(self, provider: str, payment_id: str) -> None:
        super().__init__(f"no payment {payment_id!r} from provider {provider!r}")


class InvalidPaymentTransition(ValueError):
    """A status change outside the machine (e.g. FAILED → COMPLETED, PENDING → REFUNDED)."""

    def __init__(self, payment_id: str, current: PaymentStatus, target: PaymentStatus) -> None:
        super().__init__(f"payment {payment_id!r}: cannot go from {current.name} to {target.name}")
        self.current = current
        self.target = target


class PaymentConflict(ValueError):
    """The (provider, payment_id) is already recorded with another user, amount or tariff."""


def _check_text(name: str, value: object, max_length: int) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= max_length or "\x00" in value:
        raise ValueError(f"{name} must be a str of 1-{max_length} characters: {value!r}")
    return value


def _status_is(status: PaymentStatus) -> object:
    # v4 wrote member names; rows imported from elsewhere may hold the lower-case value.
    return type_coerce(Payment.status, String()).in_((status.name, status.value))


class PaymentRepository:
    """Payments by (provider, payment_id). The caller owns the transaction."""

    def __init__(
        self, session: AsyncSession, *, tariffs: TariffCatalog | None = None, now: Clock | None = None
    ) -> None:
        self.session = session
        self.tariffs = tariffs or TariffCatalog.default()
        self.now: Clock = now or utc_now
        self.subscriptions = SubscriptionRepository(session, now=self.now)

    async def record(
        self,
        telegram_id: int,
        *,
        provider: str,
        payment_id: str,
        amount: Decimal | int | str,
        tariff: str,
        currency: str = "RUB",
        description: str | None = None,
        metadata: str | None = None,
    ) -> Payment:
        """Record a PENDING payment once; recording it again returns the first record (the user is created)."""
        _check_text("provider", provider, 50)
        _check_text("payment_id", payment_id, 255)
        _check_text("currency", currency, 3)
        money = to_money(amount)
        self.tariffs[tariff]  # raises UnknownTariff before anything is written
        user_id = await ensure_user_id(self.session, telegram_id)
        now = self.now()
        stmt = (
            insert_for(dialect_of(self.session), Payment)
            .values(
                user_id=user_id,
                amount=money,
                currency=currency,
                provider=provider,
                payment_id=payment_id,
                status=PaymentStatus.PENDING,
                tariff=tariff,
                description=description,
                payment_metadata=metadata,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["provider", "payment_id"])
        )
        await self.session.execute(stmt)
        payment = await self.get(provider, payment_id)
        assert payment is not None
        if (payment.user_id, payment.amount, payment.tariff) != (user_id, money, tariff):
            raise PaymentConflict(f"payment {payment_id!r} of {provider!r} is already recorded with other details")
        return payment

    async def get(self, provider: str, payment_id: str) -> Payment | None:
        stmt = select(Payment).where(Payment.provider == provider, Payment.payment_id == payment_id)
        return (await self.session.execute(stmt, execution_options=FRESH)).scalar_one_or_none()

    async def complete(self, provider: str, payment_id: str) -> Payment:
        """PENDING → COMPLETED and grant the tariff, once; a repeated completion returns the payment."""
        payment = await self._transition(provider, payment_id, PaymentStatus.COMPLETED)
        if payment is None:
            return await self._settled(provider, payment_id, PaymentStatus.COMPLETED)
        tariff = self.tariffs[payment.tariff]
        if tariff.kind is SubscriptionType.CREDITS:
            assert tariff.credits is not None
            sub = await self.subscriptions.grant_credits(payment.user_id, tariff.credits)
            payment.granted_credits = tariff.credits
        else:
            assert tariff.days is not None
            sub = await self.subscriptions.grant_time(payment.user_id, tariff.kind, tariff.days)
            payment.granted_days = tariff.days
        payment.subscription_id = sub.id
        await self.session.flush()
        return payment

    async def fail(self, provider: str, payment_id: str) -> Payment:
        """PENDING → FAILED; nothing was granted, so nothing is revoked."""
        payment = await self._transition(provider, payment_id, PaymentStatus.FAILED)
        return payment or await self._settled(provider, payment_id, PaymentStatus.FAILED)

    async def refund(self, provider: str, payment_id: str) -> Payment:
        """COMPLETED → REFUNDED and take back what the completion granted (never below zero)."""
        payment = await self._transition(provider, payment_id, PaymentStatus.REFUNDED)
        if payment is None:
            return await self._settled(provider, payment_id, PaymentStatus.REFUNDED)
        if payment.subscription_id is not None and payment.granted_days:
            await self.subscriptions.revoke_days(payment.subscription_id, payment.granted_days)
        if payment.subscription_id is not None and payment.granted_credits:
            await self.subscriptions.revoke_credits(payment.subscription_id, payment.granted_credits)
        return payment

    async def set_status(self, provider: str, payment_id: str, status: PaymentStatus | str) -> Payment:
        """Dispatch to :meth:`complete`, :meth:`fail` or :meth:`refund` (for webhooks carrying a status)."""
        target = parse_enum(PaymentStatus, status)
        if target is PaymentStatus.PENDING:
            return await self._settled(provider, payment_id, PaymentStatus.PENDING)
        action = {
            PaymentStatus.COMPLETED: self.complete,
            PaymentStatus.FAILED: self.fail,
            PaymentStatus.REFUNDED: self.refund,
        }[target]
        return await action(provider, payment_id)

    async def _transition(self, provider: str, payment_id: str, target: PaymentStatus) -> Payment | None:
        """The gate: the payment if *this* call moved it to ``target``, else ``None``."""
        stmt = (
            update(Payment)
            .where(
                Payment.provider == provider,
                Payment.payment_id == payment_id,
                _status_is(TRANSITIONS[target]),  # type: ignore[arg-type]
            )
            .values(status=target, updated_at=self.now())
            .returning(Payment)
        )
        row: Payment | None = (await self.session.execute(stmt, execution_options=FRESH_UPDATE)).scalars().first()
        return row

    async def _settled(self, provider: str, payment_id: str, target: PaymentStatus) -> Payment:
        """After a refused gate: the payment if it already is ``target`` (idempotent repeat), else raise."""
        payment = await self.get(provider, payment_id)
        if payment is None:
            raise PaymentNotFound(provider, payment_id)
        if payment.status is not target:
            raise InvalidPaymentTransition(payment_id, payment.status, target)
        return payment
