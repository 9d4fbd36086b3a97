"""``SessionRepository``: v4's per-bot session CRUD, race-free.

When the hot store runs, it owns ``session_data``/``stats_data`` and writes them back in batches; writes
made here bump ``bot_sessions.version`` so that the write-behind's version guard never overwrites them
with older data.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ScalarSelect, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.defaults import default_session, default_stats
from persistence.models import BotSession, User
from persistence.repositories._sql import changed_rows, utc_now
from persistence.upsert import insert_for


def _user_id_of(telegram_id: int) -> ScalarSelect[int]:
    return select(User.id).where(User.telegram_id == telegram_id).scalar_subquery()


class SessionRepository:
    """Bot sessions by (user, bot), bound to one ``AsyncSession`` (the caller commits).

    Example::

        async with get_session() as session:
            repo = SessionRepository(session)
            bot_session = await repo.get_or_create_by_telegram_id(123, "spin_bot")
            await repo.update_session(123, "spin_bot", {"chat_state": "training_active"})
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_or_create(self, user_id: int, bot_name: str) -> BotSession:
        """The session of user ``user_id`` in ``bot_name``, created with v4's defaults if absent.

        One ``INSERT … ON CONFLICT DO NOTHING`` then a read: concurrent callers get the same row, and an
        existing row is never written (v4 bumped ``updated_at`` on every read).
        """
        now = utc_now()
        stmt = insert_for(self.session.get_bind().dialect.name, BotSession.__table__).values(
            user_id=user_id,
            bot_name=bot_name,
            session_data=default_session(),
            stats_data=default_stats(),
            created_at=now,
            updated_at=now,
        )
        await self.session.execute(stmt.on_conflict_do_nothing(index_elements=["user_id", "bot_name"]))
        select_row = (
            select(BotSession)
            .where(BotSession.user_id == user_id, BotSession.bot_name == bot_name)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(select_row)).scalar_one()

    async def get_by_telegram_id(self, telegram_id: int, bot_name: str) -> BotSession | None:
        """The session of Telegram user ``telegram_id`` in ``bot_name``, or ``None``; never writes."""
        stmt = (
            select(BotSession)
            .join(User, User.id == BotSession.user_id)
            .where(User.telegram_id == telegram_id, BotSession.bot_name == bot_name)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_or_create_by_telegram_id(self, telegram_id: int, bot_name: str) -> BotSession | None:
        """Like ``get_or_create`` by Telegram id; ``None`` if the user is unknown (no user is created)."""
        user_id = (await self.session.execute(select(User.id).where(User.telegram_id == telegram_id))).scalar()
        if user_id is None:
            return None
        return await self.get_or_create(int(user_id), bot_name)

    async def _update(self, telegram_id: int, bot_name: str, **values: Any) -> bool:
        stmt = (
            update(BotSession)
            .where(BotSession.user_id == _user_id_of(telegram_id), BotSession.bot_name == bot_name)
            .values(updated_at=utc_now(), version=BotSession.version + 1, **values)
            .execution_options(synchronize_session=False)
        )
        return changed_rows(await self.session.execute(stmt)) > 0

    async def update_session(self, telegram_id: int, bot_name: str, session_data: dict[str, Any]) -> bool:
        """Replace ``session_data`` whole; ``False`` if the session does not exist (nothing is created)."""
        return await self._update(telegram_id, bot_name, session_data=session_data)

    async def update_stats(self, telegram_id: int, bot_name: str, stats_data: dict[str, Any]) -> bool:
        """Replace ``stats_data`` whole; ``False`` if the session does not exist (nothing is created)."""
        return await self._update(telegram_id, bot_name, stats_data=stats_data)

    async def update_both(
        self, telegram_id: int, bot_name: str, session_data: dict[str, Any], stats_data: dict[str, Any]
    ) -> bool:
        """Replace both documents in one ``UPDATE``; ``False`` if the session does not exist."""
        return await self._update(telegram_id, bot_name, session_data=session_data, stats_data=stats_data)

    # v4 spellings.
    update_session_data = update_session
    update_stats_data = update_stats

    async def reset_session(self, telegram_id: int, bot_name: str, keep_stats: bool = True) -> bool:
        """Set ``session_data`` (and, unless ``keep_stats``, ``stats_data``) back to v4's defaults."""
        values: dict[str, Any] = {"session_data": default_session()}
        if not keep_stats:
            values["stats_data"] = default_stats()
        return await self._update(telegram_id, bot_name, **values)

    async def delete_session(self, telegram_id: int, bot_name: str) -> bool:
        """Delete the session of ``telegram_id`` in ``bot_name``; ``False`` if there was none."""
        stmt = (
            delete(BotSession)
            .where(BotSession.user_id == _user_id_of(telegram_id), BotSession.bot_name == bot_name)
            .execution_options(synchronize_session=False)
        )
        return changed_rows(await self.session.execute(stmt)) > 0

    async def get_all_user_sessions(self, telegram_id: int) -> list[BotSession]:
        """Every bot session of the user, most recently updated first (ties by id, newest first)."""
        stmt = (
            select(BotSession)
            .join(User, User.id == BotSession.user_id)
            .where(User.telegram_id == telegram_id)
            .order_by(BotSession.updated_at.desc(), BotSession.id.desc())
            .execution_options(populate_existing=True)
        )
        return list((await self.session.execute(stmt)).scalars())
