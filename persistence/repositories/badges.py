"""Badges: v4's ``BadgeRepository``, with one badge per (user, type, bot) guaranteed by the database.

An award is ``INSERT … ON CONFLICT DO NOTHING RETURNING``: under any concurrency exactly one caller
sees the row come back (:meth:`BadgeRepository.award` returns True once, then False). Badges are shared:
one earned in any bot is listed from every bot. Lists are newest first, ties broken by id.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.models import User, UserBadge
from persistence.repositories.subscriptions import find_user_id
from persistence.upsert import dialect_of, insert_for


def check_badge_type(badge_type: object) -> str:
    if not isinstance(badge_type, str) or not 1 <= len(badge_type) <= 100 or "\x00" in badge_type:
        raise ValueError(f"badge_type must be a str of 1-100 characters: {badge_type!r}")
    return badge_type


def check_badge_bot(bot_name: object) -> str:
    if not isinstance(bot_name, str) or not 1 <= len(bot_name) <= 50 or "\x00" in bot_name:
        raise ValueError(f"bot_name must be a str of 1-50 characters: {bot_name!r}")
    return bot_name


class BadgeRepository:
    """Badges of users. The caller owns the transaction (``async with session.begin():``)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def award(
        self, user_id: int, badge_type: str, bot_name: str, metadata: dict[str, Any] | None = None
    ) -> UserBadge | None:
        """Insert the badge; the new row, or ``None`` if the user already holds it in that bot."""
        stmt = (
            insert_for(dialect_of(self.session), UserBadge)
            .values(
                user_id=user_id,
                badge_type=check_badge_type(badge_type),
                earned_in_bot=check_badge_bot(bot_name),
                badge_metadata=dict(metadata or {}),
            )
            .on_conflict_do_nothing(index_elements=["user_id", "badge_type", "earned_in_bot"])
            .returning(UserBadge)
        )
        row: UserBadge | None = (await self.session.execute(stmt)).scalars().first()
        return row

    async def award_badge(
        self, user_id: int, badge_type: str, bot_name: str, metadata: dict[str, Any] | None = None
    ) -> UserBadge:
        """v4: award and return the badge; an award already held returns the existing row (idempotent)."""
        row = await self.award(user_id, badge_type, bot_name, metadata)
        if row is not None:
            return row
        stmt = select(UserBadge).where(
            UserBadge.user_id == user_id, UserBadge.badge_type == badge_type, UserBadge.earned_in_bot == bot_name
        )
        return (await self.session.execute(stmt)).scalar_one()

    async def award_badge_by_telegram_id(
        self, telegram_id: int, badge_type: str, bot_name: str, metadata: dict[str, Any] | None = None
    ) -> UserBadge | None:
        """v4: as :meth:`award_badge`, by Telegram id; ``None`` for an unknown user."""
        check_badge_type(badge_type)
        check_badge_bot(bot_name)
        user_id = await find_user_id(self.session, telegram_id)
        return None if user_id is None else await self.award_badge(user_id, badge_type, bot_name, metadata)

    async def get_user_badges(self, telegram_id: int, bot_name: str | None = None) -> list[UserBadge]:
        """Badges of a user from all bots (or one), newest first, ties by id."""
        stmt = self._of_user(select(UserBadge), telegram_id, bot_name).order_by(
            UserBadge.earned_at.desc(), UserBadge.id.desc()
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def has_badge(self, telegram_id: int, badge_type: str, bot_name: str | None = None) -> bool:
        """Whether the user holds ``badge_type`` (in ``bot_name``, or in any bot); never raises on several."""
        stmt = self._of_user(select(UserBadge.id), telegram_id, bot_name).where(UserBadge.badge_type == badge_type)
        return (await self.session.execute(stmt.limit(1))).first() is not None

    async def count_user_badges(self, telegram_id: int, bot_name: str | None = None) -> int:
        stmt = self._of_user(select(func.count(UserBadge.id)), telegram_id, bot_name)
        return int((await self.session.execute(stmt)).scalar_one())

    async def get_user_badge_count(self, telegram_id: int) -> int:
        """v4 alias of :meth:`count_user_badges` over all bots."""
        return await self.count_user_badges(telegram_id)

    async def get_all_badges_by_type(self, badge_type: str) -> list[UserBadge]:
        stmt = (
            select(UserBadge)
            .where(UserBadge.badge_type == badge_type)
            .order_by(UserBadge.earned_at.desc(), UserBadge.id.desc())
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def count_badges_by_type(self, badge_type: str) -> int:
        stmt = select(func.count(UserBadge.id)).where(UserBadge.badge_type == badge_type)
        return int((await self.session.execute(stmt)).scalar_one())

    async def delete_badge(self, telegram_id: int, badge_type: str, bot_name: str | None = None) -> bool:
        """Remove the badge (from one bot, or from all); True if anything was deleted."""
        user_id = await find_user_id(self.session, telegram_id)
        if user_id is None:
            return False
        stmt = delete(UserBadge).where(UserBadge.user_id == user_id, UserBadge.badge_type == badge_type)
        if bot_name is not None:
            stmt = stmt.where(UserBadge.earned_in_bot == bot_name)
        result = await self.session.execute(stmt.execution_options(synchronize_session=False))
        return bool(getattr(result, "rowcount", 0))

    @staticmethod
    def _of_user(stmt: Select[Any], telegram_id: int, bot_name: str | None) -> Select[Any]:
        stmt = stmt.join(User, User.id == UserBadge.user_id).where(User.telegram_id == telegram_id)
        return stmt if bot_name is None else stmt.where(UserBadge.earned_in_bot == bot_name)
