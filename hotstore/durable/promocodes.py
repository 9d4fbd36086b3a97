"""Promocodes: created case-insensitive, redeemed atomically (never past max_uses, once per user).

Codes come back as :class:`~hotstore.durable.records.PromocodeRecord`, a redemption as :class:`Redemption`.
"""

from __future__ import annotations

from datetime import datetime

from hotstore.core.errors import InvalidInput, PromocodeRejected
from hotstore.core.validation import check_storable_text, check_telegram_id
from hotstore.durable.base import DomainService
from hotstore.durable.records import PromocodeRecord
from persistence.enums import PromocodeType
from persistence.repositories.promocodes import PromocodeRepository, Redemption, normalize_code

_MESSAGES = {
    "unknown": "Promocode not found",
    "expired": "Promocode has expired",
    "exhausted": "Promocode has been used up",
    "already_used": "You have already used this promocode",
}


def _check_code(code: object) -> None:
    """A code SQL can store, at most 50 characters once upper-cased (the form stored), before any SQL."""
    try:
        normalize_code(code)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    assert isinstance(code, str)
    check_storable_text("promocode code", code)


def _granted(redemption: Redemption) -> str:
    if redemption.type is PromocodeType.TRAININGS:
        return f"{redemption.value} free trainings"
    if redemption.type is PromocodeType.FREE_MONTH:
        return "a free month"
    return f"{redemption.value} credits"


class Promocodes(DomainService):
    """``await Promocodes(store).redeem("spring", 42)`` → :class:`Redemption`, or raises PromocodeRejected."""

    async def create(
        self,
        code: str,
        type: PromocodeType | str,
        value: int,
        *,
        max_uses: int | None = None,
        expires_at: datetime | None = None,
    ) -> PromocodeRecord:
        """Create a code (stored upper-case). ``max_uses=None`` is unlimited, ``0`` allows no use."""
        _check_code(code)
        async with self.transaction() as session:
            row = await PromocodeRepository(session, now=self.now).create(
                code, type, value, max_uses=max_uses, expires_at=expires_at
            )
            return PromocodeRecord.from_row(row)

    async def get(self, code: str) -> PromocodeRecord | None:
        """The code (any case), or None if there is no such code."""
        async with self.transaction() as session:
            row = await PromocodeRepository(session, now=self.now).get(code)
            return None if row is None else PromocodeRecord.from_row(row)

    async def redeem(self, code: str, telegram_id: int) -> Redemption:
        """Redeem and apply in one transaction; a refusal raises PromocodeRejected and changes nothing."""
        check_telegram_id(telegram_id)
        async with self.transaction() as session:
            return await PromocodeRepository(session, now=self.now).redeem(code, telegram_id)

    async def activate(self, code: str, telegram_id: int) -> tuple[bool, str]:
        """v4's ``activate_promocode``: ``(True, message)`` or ``(False, reason message)``, never raising for
        a refused code."""
        try:
            redemption = await self.redeem(code, telegram_id)
        except PromocodeRejected as exc:
            return False, _MESSAGES.get(exc.reason, exc.reason)
        return True, f"Promocode {redemption.code} activated: {_granted(redemption)}"
