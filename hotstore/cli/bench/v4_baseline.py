"""The v4 way, re-implemented for the baseline rows: one SQL transaction per call, v4's queries.

``get_user_session`` = SELECT user + UPDATE last_activity, SELECT bot session +
UPDATE updated_at, COMMIT; ``save_session`` = one UPDATE of both JSON documents with a subquery on the Telegram id;
``add_xp_and_check_level_up`` = SELECT user, ``UPDATE total_xp = total_xp + :xp``, and an UPDATE of the level when it
rose. The leaderboard is v4's SQL: ``ORDER BY total_xp DESC LIMIT/OFFSET``, and a rank that fetches every user with
more XP and counts them in Python.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import insert, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hotstore.cli.bench.workload import Workload, initial_documents
from persistence.models import BotSession, User

T = TypeVar("T")
SEED_CHUNK = 1000
LOCK_RETRIES = 50  # SQLite under 32 writers: "database is locked" is retried, and counted


def _now() -> datetime:
    return datetime.now(UTC)


def v4_level(xp: int) -> int:
    """v4's ``_calculate_level`` without a levels config."""
    return min(xp // 100 + 1, 100)


class V4Database:
    """v4's ``DatabaseService`` per-message methods, one transaction per call."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.retries = 0

    async def _retrying(self, call: Callable[[AsyncSession], Awaitable[T]]) -> T:
        for attempt in range(LOCK_RETRIES + 1):
            try:
                async with self._sessions() as session:
                    result = await call(session)
                    await session.commit()
                    return result
            except OperationalError:
                if attempt == LOCK_RETRIES:
                    raise
                self.retries += 1
                await asyncio.sleep(0.001 * (attempt + 1))
        raise AssertionError("unreachable")

    async def get_user_session(self, telegram_id: int, bot: str, username: str | None = None) -> dict[str, Any]:
        async def call(session: AsyncSession) -> dict[str, Any]:
            user = await _user_get_or_create(session, telegram_id, username)
            row = await _session_get_or_create(session, user.id, bot)
            return {"user": user.to_dict(), "session": row.session_data, "stats": row.stats_data}

        return await self._retrying(call)

    async def save_session(self, telegram_id: int, bot: str, session_data: Any, stats_data: Any) -> bool:
        async def call(session: AsyncSession) -> bool:
            user_id = select(User.id).where(User.telegram_id == telegram_id).scalar_subquery()
            result = await session.execute(
                update(BotSession)
                .where(BotSession.user_id == user_id, BotSession.bot_name == bot)
                .values(session_data=session_data, stats_data=stats_data, updated_at=_now())
                .execution_options(synchronize_session=False)
            )
            return bool(getattr(result, "rowcount", 0))

        return await self._retrying(call)

    async def add_xp_and_check_level_up(self, telegram_id: int, xp: int) -> dict[str, Any]:
        async def call(session: AsyncSession) -> dict[str, Any]:
            user = (await session.execute(select(User).where(User.telegram_id == telegram_id))).scalar_one_or_none()
            if user is None:
                return {"leveled_up": False, "old_level": 1, "new_level": 1, "total_xp": 0}
            old_level, old_xp = user.level, user.total_xp
            await session.execute(
                update(User)
                .where(User.telegram_id == telegram_id)
                .values(total_xp=User.total_xp + xp)
                .execution_options(synchronize_session=False)
            )
            new_xp = old_xp + xp
            new_level = v4_level(new_xp)
            if new_level > old_level:
                await session.execute(
                    update(User)
                    .where(User.telegram_id == telegram_id)
                    .values(level=new_level)
                    .execution_options(synchronize_session=False)
                )
            return {
                "leveled_up": new_level > old_level,
                "old_level": old_level,
                "new_level": new_level,
                "total_xp": new_xp,
            }

        return await self._retrying(call)

    async def get_leaderboard(self, limit: int = 10, offset: int = 0) -> list[dict[str, Any]]:
        async def call(session: AsyncSession) -> list[dict[str, Any]]:
            rows = await session.execute(select(User).order_by(User.total_xp.desc()).limit(limit).offset(offset))
            return [user.to_dict() for user in rows.scalars()]

        return await self._retrying(call)

    async def get_user_rank(self, telegram_id: int) -> int | None:
        async def call(session: AsyncSession) -> int | None:
            user = (await session.execute(select(User).where(User.telegram_id == telegram_id))).scalar_one_or_none()
            if user is None:
                return None
            above = (await session.execute(select(User).where(User.total_xp > user.total_xp))).scalars().all()
            return len(above) + 1

        return await self._retrying(call)


async def _user_get_or_create(session: AsyncSession, telegram_id: int, username: str | None) -> User:
    user = (await session.execute(select(User).where(User.telegram_id == telegram_id))).scalar_one_or_none()
    if user is None:
        user = User(telegram_id=telegram_id, username=username, total_xp=0, level=1)
        session.add(user)
    else:
        user.last_activity = _now()  # v4 updates last_activity on every call
        if username and user.username != username:
            user.username = username
    await session.flush()
    return user


async def _session_get_or_create(session: AsyncSession, user_id: int, bot: str) -> BotSession:
    query = select(BotSession).where(BotSession.user_id == user_id, BotSession.bot_name == bot)
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None:
        doc, stats = initial_documents()
        row = BotSession(user_id=user_id, bot_name=bot, session_data=doc, stats_data=stats)
        session.add(row)
    else:
        row.updated_at = _now()  # and updated_at on every read
    await session.flush()
    return row


class V4Path:
    """The v4 facade as a :class:`~hotstore.cli.bench.workload.MessagePath`."""

    def __init__(self, db: V4Database) -> None:
        self.db = db

    async def get_session(self, telegram_id: int, bot: str) -> tuple[dict[str, Any], dict[str, Any]]:
        state = await self.db.get_user_session(telegram_id, bot, username=f"user{telegram_id}")
        return state["session"], state["stats"]

    async def save_session(self, telegram_id: int, bot: str, session: dict[str, Any], stats: dict[str, Any]) -> None:
        await self.db.save_session(telegram_id, bot, session, stats)

    async def add_xp(self, telegram_id: int, bot: str, xp: int) -> int:
        result = await self.db.add_xp_and_check_level_up(telegram_id, xp)
        return int(result["new_level"])


async def seed_sql(engine: AsyncEngine, workload: Workload) -> None:
    """Insert every user and (user, bot) session row, untimed, as an existing v4 deployment would have them."""
    ids = workload.telegram_ids()
    doc, stats = initial_documents()
    async with engine.begin() as conn:
        for start in range(0, len(ids), SEED_CHUNK):
            chunk = ids[start : start + SEED_CHUNK]
            await conn.execute(insert(User), [{"telegram_id": tg, "username": f"user{tg}"} for tg in chunk])
        user_ids = (await conn.execute(select(User.id))).scalars().all()
        rows = [
            {"user_id": user_id, "bot_name": bot, "session_data": doc, "stats_data": stats}
            for bot in workload.bot_names
            for user_id in user_ids
        ]
        for start in range(0, len(rows), SEED_CHUNK):
            await conn.execute(insert(BotSession), rows[start : start + SEED_CHUNK])
