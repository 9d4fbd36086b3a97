"""Payments: recorded once per (provider, payment_id), completed into a subscription exactly once.

Every call returns a :class:`~hotstore.durable.records.PaymentRecord`, converted inside its transaction.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotstore.core.errors import InvalidInput
from hotstore.core.validation import check_optional_text, check_telegram_id, check_text
from hotstore.durable.base import DomainService
from hotstore.durable.records import PaymentRecord
from persistence.clock import Clock
from persistence.enums import PaymentStatus
from persistence.models import Payment, User
from persistence.repositories.payments import PaymentRepository
from persistence.tariffs import TariffCatalog
from persistence.types import to_money

if TYPE_CHECKING:
    from hotstore.core.store import HotStore


# Free-text fields of a payment (TEXT columns): bounded so a runaway payload is refused, not stored.
MAX_DESCRIPTION = 4096
MAX_METADATA = 64 * 1024


def _check_key(provider: object, payment_id: object) -> None:
    """(provider, payment_id) as the columns hold them, checked before any SQL (a wrong type is InvalidInput)."""
    check_text("provider", provider, max_length=50)
    check_text("payment_id", payment_id, max_length=255)


def check_amount(amount: object) -> None:
    """A finite amount of at most two decimal places that ``NUMERIC(12, 2)`` holds, not negative (a refund is a
    status, not a negative payment); :class:`InvalidInput` otherwise."""
    try:
        to_money(amount)  # type: ignore[arg-type]  # the wrong types are refused there too
    except ValueError as exc:
        raise InvalidInput(f"amount: {exc}") from exc


async def _record_of(session: AsyncSession, row: Payment) -> PaymentRecord:
    """The payment's record, with its user's Telegram id (the row holds only ``users.id``)."""
    telegram_id = (await session.execute(select(User.telegram_id).where(User.id == row.user_id))).scalar_one()
    return PaymentRecord.from_row(row, int(telegram_id))


class Payments(DomainService):
    """Record and settle payments; a completion grants its tariff, a refund takes it back.

    ``payments = Payments(store)``; on the provider's webhook: ``await payments.complete("yookassa", pid)``,
    as often as it is delivered.
    """

    def __init__(self, store: HotStore, *, tariffs: TariffCatalog | None = None, now: Clock | None = None) -> None:
        super().__init__(store, now=now)
        self.tariffs = tariffs or TariffCatalog.default()

    def _repo(self, session: AsyncSession) -> PaymentRepository:
        return PaymentRepository(session, tariffs=self.tariffs, now=self.now)

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
    ) -> PaymentRecord:
        """Record a PENDING payment (idempotent by (provider, payment_id)); the user is created if absent."""
        check_telegram_id(telegram_id)
        _check_key(provider, payment_id)
        check_amount(amount)
        check_text("tariff", tariff, max_length=50)
        check_text("currency", currency, max_length=3)
        check_optional_text("description", description, max_length=MAX_DESCRIPTION)
        check_optional_text("metadata", metadata, max_length=MAX_METADATA)
        async with self.transaction() as session:
            row = await self._repo(session).record(
                telegram_id,
                provider=provider,
                payment_id=payment_id,
                amount=amount,
                tariff=tariff,
                currency=currency,
                description=description,
                metadata=metadata,
            )
            return PaymentRecord.from_row(row, telegram_id)

    async def get(self, provider: str, payment_id: str) -> PaymentRecord | None:
        _check_key(provider, payment_id)
        async with self.transaction() as session:
            row = await self._repo(session).get(provider, payment_id)
            return None if row is None else await _record_of(session, row)

    async def complete(self, provider: str, payment_id: str) -> PaymentRecord:
        """PENDING → COMPLETED, granting the tariff once; a repeat returns the payment, changing nothing."""
        _check_key(provider, payment_id)
        async with self.transaction() as session:
            return await _record_of(session, await self._repo(session).complete(provider, payment_id))

    async def fail(self, provider: str, payment_id: str) -> PaymentRecord:
        """PENDING → FAILED."""
        _check_key(provider, payment_id)
        async with self.transaction() as session:
            return await _record_of(session, await self._repo(session).fail(provider, payment_id))

    async def refund(self, provider: str, payment_id: str) -> PaymentRecord:
        """COMPLETED → REFUNDED, revoking the days or credits the completion granted (never below 0)."""
        _check_key(provider, payment_id)
        async with self.transaction() as session:
            return await _record_of(session, await self._repo(session).refund(provider, payment_id))

    async def set_status(self, provider: str, payment_id: str, status: PaymentStatus | str) -> PaymentRecord:
        """Apply a status a webhook reports; raises :class:`~hotstore.core.errors.InvalidTransition` if not allowed."""
        _check_key(provider, payment_id)
        async with self.transaction() as session:
            return await _record_of(session, await self._repo(session).set_status(provider, payment_id, status))
