"""``UserRepository``: v4's user CRUD, race-free.

When the hot store runs, it owns the hot fields (``total_xp``, ``level``, ``total_trainings``,
``total_score``, names, ``last_activity``) and writes them back in batches; writes made here bump
``users.version`` so that the write-behind's version guard never overwrites them with older data.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.models import User
from persistence.repositories._sql import changed_rows, utc_now
from persistence.upsert import insert_for

# v4 updated last_activity on every read; we write it only when it is older than this.
ACTIVITY_RESOLUTION = timedelta(seconds=60)


class UserRepository:
    """Users by Telegram id, bound to one ``AsyncSession`` (the caller commits).

    Example::

        async with get_session() as session:
            user = await UserRepository(session).get_or_create(123, username="ann")
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_or_create(
        self,
        telegram_id: int,
        username: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
    ) -> User:
        """The user with ``telegram_id``, created if absent, in one ``INSERT … ON CONFLICT`` (no race).

        An existing user is written only when a given non-empty name differs from the stored one or
        ``last_activity`` is older than a minute; then names, ``last_activity`` and ``version`` change.
        """
        now = utc_now()
        table = User.__table__
        stmt = insert_for(self.session.get_bind().dialect.name, table).values(
            telegram_id=telegram_id,
            username=username,
            first_name=first_name,
            last_name=last_name,
            registration_date=now,
            last_activity=now,
        )
        new = stmt.excluded
        names = ("username", "first_name", "last_name")
        # A new non-empty value replaces the stored one; None or "" keeps it (v4's rule).
        set_: dict[str, Any] = {name: func.coalesce(func.nullif(new[name], ""), table.c[name]) for name in names}
        set_.update(last_activity=now, version=table.c.version + 1)
        renamed: list[ColumnElement[bool]] = [
            (func.coalesce(func.nullif(new[name], ""), table.c[name]) != func.coalesce(table.c[name], ""))
            for name in names
        ]
        stale = table.c.last_activity < now - ACTIVITY_RESOLUTION
        await self.session.execute(
            stmt.on_conflict_do_update(index_elements=["telegram_id"], set_=set_, where=or_(stale, *renamed))
        )
        user = await self.get_by_telegram_id(telegram_id)
        assert user is not None  # inserted or kept by the statement above, in this transaction
        return user

    async def get_by_telegram_id(self, telegram_id: int) -> User | None:
        """The user with ``telegram_id``, or ``None``; never writes."""
        stmt = select(User).where(User.telegram_id == telegram_id).execution_options(populate_existing=True)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_by_id(self, user_id: int) -> User | None:
        """The user with primary key ``user_id``, or ``None``; never writes."""
        stmt = select(User).where(User.id == user_id).execution_options(populate_existing=True)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def _update(self, telegram_id: int, **values: object) -> bool:
        stmt = (
            update(User)
            .where(User.telegram_id == telegram_id)
            .values(version=User.version + 1, **values)
            .execution_options(synchronize_session=False)
        )
        return changed_rows(await self.session.execute(stmt)) > 0

    async def add_xp(self, telegram_id: int, xp: int) -> bool:
        """Atomically add ``xp`` to ``total_xp``; ``False`` if the user is unknown."""
        return await self._update(telegram_id, total_xp=User.total_xp + xp)

    async def update_level(self, telegram_id: int, new_level: int) -> bool:
        """Set ``level``; ``False`` if the user is unknown."""
        return await self._update(telegram_id, level=new_level)

    async def increment_training_count(self, telegram_id: int) -> bool:
        """Atomically add one to ``total_trainings``; ``False`` if the user is unknown."""
        return await self._update(telegram_id, total_trainings=User.total_trainings + 1)

    async def add_score(self, telegram_id: int, score: int) -> bool:
        """Atomically add ``score`` to ``total_score``; ``False`` if the user is unknown."""
        return await self._update(telegram_id, total_score=User.total_score + score)

    async def get_leaderboard(self, limit: int = 10, offset: int = 0) -> list[User]:
        """Users by ``total_xp`` descending, ties by Telegram id ascending (a stable page order)."""
        stmt = (
            select(User)
            .order_by(User.total_xp.desc(), User.telegram_id.asc())
            .limit(limit)
            .offset(offset)
            .execution_options(populate_existing=True)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def get_user_rank(self, telegram_id: int) -> int | None:
        """v4's competition rank: 1 + the number of users with strictly more XP; ``None`` if unknown."""
        other = User.__table__.alias("other")
        higher = select(func.count()).where(other.c.total_xp > User.total_xp).scalar_subquery()
        stmt = select(higher + 1).where(User.telegram_id == telegram_id)
        rank = (await self.session.execute(stmt)).scalar_one_or_none()
        return None if rank is None else int(rank)

    async def count_total_users(self) -> int:
        """How many users exist."""
        return int((await self.session.execute(select(func.count(User.id)))).scalar_one())

    async def delete(self, telegram_id: int) -> bool:
        """Delete the user; the database cascades to sessions, badges, payments, history…; ``False`` if unknown."""
        stmt = (
            delete(User)
            .where(User.telegram_id == telegram_id)
            .returning(User.id)
            .execution_options(synchronize_session=False)
        )
        user_id = (await self.session.execute(stmt)).scalar_one_or_none()
        if user_id is None:
            return False
        # The rows ON DELETE CASCADE removed may still sit in the identity map: detach them.
        for obj in list(self.session.identity_map.values()):
            if getattr(obj, "user_id", None) == user_id or (isinstance(obj, User) and obj.id == user_id):
                self.session.expunge(obj)
        return True
