"""Badges: earned in one bot, visible from every bot, awarded at most once per (user, type, bot).

:meth:`Badges.list` returns :class:`~hotstore.durable.records.BadgeRecord` values, converted inside its transaction.
"""

from __future__ import annotations

from typing import Any

from hotstore.core.keys import check_bot_name
from hotstore.core.validation import check_document, check_telegram_id, check_text
from hotstore.durable.base import DomainService
from hotstore.durable.records import BadgeRecord
from persistence.repositories.badges import BadgeRepository, check_badge_type
from persistence.upsert import ensure_user_id


class Badges(DomainService):
    """``await Badges(store).award(42, "spin_master", metadata={"score": 185})`` → True once, then False."""

    def _bot(self, bot_name: str | None) -> str:
        return check_bot_name(self.store.settings.bot_name if bot_name is None else bot_name)

    async def award(
        self, telegram_id: int, badge_type: str, *, bot_name: str | None = None, metadata: dict[str, Any] | None = None
    ) -> bool:
        """Award ``badge_type`` in ``bot_name`` (default: the store's bot); True only for the first award.

        The user is created if absent. Exactly one of any number of concurrent awards returns True.
        """
        check_telegram_id(telegram_id)
        bot = self._bot(bot_name)
        document = check_document("metadata", {} if metadata is None else metadata)
        check_text("badge_type", badge_type, max_length=100)
        async with self.transaction() as session:
            check_badge_type(badge_type)
            user_id = await ensure_user_id(session, telegram_id)
            return await BadgeRepository(session).award(user_id, badge_type, bot, document) is not None

    async def list(self, telegram_id: int, *, bot_name: str | None = None) -> list[BadgeRecord]:
        """The user's badges, newest first, ties by id; ``bot_name=None`` lists badges from every bot."""
        check_telegram_id(telegram_id)
        bot = None if bot_name is None else check_bot_name(bot_name)
        async with self.transaction() as session:
            rows = await BadgeRepository(session).get_user_badges(telegram_id, bot)
            return [BadgeRecord.from_row(row, telegram_id) for row in rows]

    async def count(self, telegram_id: int, *, bot_name: str | None = None) -> int:
        check_telegram_id(telegram_id)
        bot = None if bot_name is None else check_bot_name(bot_name)
        async with self.transaction() as session:
            return await BadgeRepository(session).count_user_badges(telegram_id, bot)

    async def has(self, telegram_id: int, badge_type: str, *, bot_name: str | None = None) -> bool:
        """Whether the user holds the badge, in ``bot_name`` or (``None``) in any bot."""
        check_telegram_id(telegram_id)
        check_text("badge_type", badge_type, max_length=100)
        bot = None if bot_name is None else check_bot_name(bot_name)
        async with self.transaction() as session:
            return await BadgeRepository(session).has_badge(telegram_id, badge_type, bot)
