"""Promocodes: created upper-case, redeemed atomically, at most ``max_uses`` times and once per user.

A redemption, inside the caller's transaction:

1. ``INSERT`` the usage row ``ON CONFLICT DO NOTHING`` (unique (user, promocode)): once per user;
2. ``UPDATE promocodes SET current_uses = current_uses + 1 WHERE id = ? AND (max_uses IS NULL OR
   current_uses < max_uses) AND (expires_at IS NULL OR expires_at > now) RETURNING``: never past max_uses;
3. apply the effect (TRAININGS → free trainings from PROMOCODE, FREE_MONTH → 30 days on the time
   subscription, CREDITS → credits).

A refusal raises :class:`PromocodeError` and the caller rolls the transaction back, so nothing changes.
``max_uses=None`` is unlimited; ``max_uses=0`` allows no use at all (v4 read 0 as unlimited).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.clock import Clock, utc_now
from persistence.enums import FreeTrainingSource, PromocodeType, SubscriptionType
from persistence.models import Promocode, PromocodeUsage
from persistence.repositories.free_trainings import FRESH, FRESH_UPDATE
from persistence.repositories.subscriptions import SubscriptionRepository
from persistence.types import INT32_MAX, parse_enum
from persistence.upsert import dialect_of, ensure_user_id, insert_for

FREE_MONTH_DAYS = 30

# Rejection reasons (PromocodeError.reason).
UNKNOWN = "unknown"
EXPIRED = "expired"
EXHAUSTED = "exhausted"
ALREADY_USED = "already_used"


class PromocodeError(ValueError):
    """A redemption refused: ``reason`` is one of unknown, expired, exhausted, already_used."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"promocode {code!r} rejected: {reason}")
        self.code = code
        self.reason = reason


class DuplicatePromocode(ValueError):
    """A promocode with that code already exists."""


@dataclass(frozen=True)
class Redemption:
    """What a successful redemption granted."""

    code: str
    type: PromocodeType
    value: int


MAX_CODE_LENGTH = 50  # promocodes.code is VARCHAR(50)


def normalize_code(code: object) -> str:
    """Codes are case-insensitive: stored and looked up stripped and upper-case. The length is that of the
    upper-cased code, the one stored ("ß" becomes "SS")."""
    if not isinstance(code, str) or "\x00" in code:
        raise ValueError(f"promocode code must be a str without NUL: {code!r}")
    normalized = code.strip().upper()
    if not 1 <= len(normalized) <= MAX_CODE_LENGTH:
        raise ValueError(f"promocode code must be 1-{MAX_CODE_LENGTH} characters once upper-cased: {code[:60]!r}")
    return normalized


def _check_optional_count(name: str, value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= INT32_MAX:
        raise ValueError(f"{name} must be None or an int >= 0: {value!r}")
    return value


class PromocodeRepository:
    """Promocodes and their redemption. The caller owns the transaction and rolls back on an error."""

    def __init__(self, session: AsyncSession, *, now: Clock | None = None) -> None:
        self.session = session
        self.now: Clock = now or utc_now
        self.subscriptions = SubscriptionRepository(session, now=self.now)

    async def create(
        self,
        code: str,
        type: PromocodeType | str,
        value: int,
        *,
        max_uses: int | None = None,
        expires_at: datetime | None = None,
    ) -> Promocode:
        """Create a promocode; :class:`DuplicatePromocode` if the code (any case) exists."""
        normalized = normalize_code(code)
        member = parse_enum(PromocodeType, type)
        checked_value = _check_optional_count("value", value)
        if checked_value is None or (member is not PromocodeType.FREE_MONTH and checked_value < 1):
            raise ValueError(f"value must be an int >= 1 for {member.value} promocodes: {value!r}")
        _check_optional_count("max_uses", max_uses)
        if expires_at is not None and not isinstance(expires_at, datetime):
            raise ValueError(f"expires_at must be a datetime or None: {expires_at!r}")
        stmt = (
            insert_for(dialect_of(self.session), Promocode)
            .values(code=normalized, type=member, value=value, max_uses=max_uses, expires_at=expires_at)
            .on_conflict_do_nothing(index_elements=["code"])
            .returning(Promocode)
        )
        row: Promocode | None = (await self.session.execute(stmt, execution_options=FRESH)).scalars().first()
        if row is None:
            raise DuplicatePromocode(f"promocode {normalized!r} already exists")
        return row

    async def get(self, code: str) -> Promocode | None:
        stmt = select(Promocode).where(Promocode.code == normalize_code(code))
        return (await self.session.execute(stmt, execution_options=FRESH)).scalar_one_or_none()

    async def redeem(self, code: str, telegram_id: int) -> Redemption:
        """Redeem ``code`` for the user (created if absent) and apply its effect, or raise PromocodeError."""
        normalized = normalize_code(code)
        promo = await self.get(normalized)
        if promo is None:
            raise PromocodeError(normalized, UNKNOWN)
        user_id = await ensure_user_id(self.session, telegram_id)
        usage = (
            insert_for(dialect_of(self.session), PromocodeUsage)
            .values(user_id=user_id, promocode_id=promo.id, used_at=self.now())
            .on_conflict_do_nothing(index_elements=["user_id", "promocode_id"])
            .returning(PromocodeUsage.id)
        )
        if (await self.session.execute(usage)).first() is None:
            raise PromocodeError(normalized, ALREADY_USED)
        if not await self._take_use(promo.id):
            raise PromocodeError(normalized, await self._why_refused(promo.id))
        await self._apply(user_id, promo)
        return Redemption(normalized, promo.type, promo.value)

    async def _take_use(self, promocode_id: int) -> bool:
        now = self.now()
        stmt = (
            update(Promocode)
            .where(
                Promocode.id == promocode_id,
                Promocode.max_uses.is_(None) | (Promocode.current_uses < Promocode.max_uses),
                Promocode.expires_at.is_(None) | (Promocode.expires_at > now),
            )
            .values(current_uses=Promocode.current_uses + 1)
            .returning(Promocode.id)
        )
        return (await self.session.execute(stmt, execution_options=FRESH_UPDATE)).first() is not None

    async def _why_refused(self, promocode_id: int) -> str:
        stmt = select(Promocode).where(Promocode.id == promocode_id)
        promo = (await self.session.execute(stmt, execution_options=FRESH)).scalar_one()
        if promo.expires_at is not None and promo.expires_at <= self.now():
            return EXPIRED
        return EXHAUSTED

    async def _apply(self, user_id: int, promo: Promocode) -> None:
        if promo.type is PromocodeType.TRAININGS:
            await self.subscriptions.free.add(user_id, promo.value, FreeTrainingSource.PROMOCODE)
        elif promo.type is PromocodeType.FREE_MONTH:
            await self.subscriptions.grant_time(user_id, SubscriptionType.MONTH, FREE_MONTH_DAYS)
        else:
            await self.subscriptions.grant_credits(user_id, promo.value)
