"""SQL side of the v4 JSON import (``users_data.json``): batched, idempotent upserts of users and bot sessions.

Values are written, never added, and a row is touched only when an imported value differs, so importing the
same dump twice changes nothing the second time (not even ``version``). Every changed row gets
``version + 1``: the write-behind's version guard then never puts an older hot copy back over it.

The caller (the ``migrate-json`` command) validates the records and evicts stale hot copies from Redis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.models import BotSession, User
from persistence.upsert import dialect_of, insert_for, utc_now


@dataclass(frozen=True)
class ImportedUser:
    """One user of the dump, already validated and merged with the v4 defaults.

    ``total_score`` ``None`` means the dump has no value: an existing row keeps its own (v4 wrote 0).
    ``bot_xp`` is the XP earned in the imported bot (``bot_sessions.xp``, the bot board's score).
    """

    telegram_id: int
    total_xp: int
    level: int
    total_trainings: int
    total_score: int | None
    bot_xp: int
    session_data: dict[str, Any]
    stats_data: dict[str, Any]


@dataclass
class ImportCounts:
    """How many rows a batch inserted or changed (rows already holding the imported values are not counted)."""

    users_written: list[int] = field(default_factory=list)
    sessions_written: list[int] = field(default_factory=list)


async def import_users(session: AsyncSession, bot_name: str, users: Sequence[ImportedUser]) -> ImportCounts:
    """Upsert ``users`` and their ``bot_name`` sessions in the caller's transaction; telegram ids must be unique."""
    counts = ImportCounts()
    if not users:
        return counts
    with_score = [u for u in users if u.total_score is not None]
    without_score = [u for u in users if u.total_score is None]
    for group, write_score in ((with_score, True), (without_score, False)):
        if group:
            counts.users_written.extend(await _upsert_users(session, group, write_score=write_score))
    ids = await _user_ids(session, [u.telegram_id for u in users])
    counts.sessions_written.extend(await _upsert_sessions(session, bot_name, users, ids))
    return counts


async def _upsert_users(session: AsyncSession, users: Sequence[ImportedUser], *, write_score: bool) -> list[int]:
    table = User.__table__
    stmt = insert_for(dialect_of(session), table)
    columns = ["total_xp", "level", "total_trainings"] + (["total_score"] if write_score else [])
    changed = or_(*(table.c[name].is_distinct_from(stmt.excluded[name]) for name in columns))
    update = {name: stmt.excluded[name] for name in columns}
    update["version"] = table.c.version + 1
    stmt = stmt.on_conflict_do_update(index_elements=["telegram_id"], set_=update, where=changed).returning(
        table.c.telegram_id
    )
    rows = [
        {
            "telegram_id": u.telegram_id,
            "total_xp": u.total_xp,
            "level": u.level,
            "total_trainings": u.total_trainings,
            "total_score": u.total_score or 0,
        }
        for u in users
    ]
    result = await session.execute(stmt, rows)
    return [int(tg) for tg in result.scalars()]


async def _user_ids(session: AsyncSession, telegram_ids: Sequence[int]) -> dict[int, int]:
    stmt = select(User.telegram_id, User.id).where(User.telegram_id.in_(telegram_ids))
    return {int(tg): int(uid) for tg, uid in (await session.execute(stmt)).all()}


async def _upsert_sessions(
    session: AsyncSession, bot_name: str, users: Sequence[ImportedUser], ids: dict[int, int]
) -> list[int]:
    table = BotSession.__table__
    stmt = insert_for(dialect_of(session), table)
    columns = ["session_data", "stats_data", "xp"]
    changed = or_(*(table.c[name].is_distinct_from(stmt.excluded[name]) for name in columns))
    update: dict[str, Any] = {name: stmt.excluded[name] for name in columns}
    update["version"] = table.c.version + 1
    update["updated_at"] = utc_now()
    stmt = stmt.on_conflict_do_update(index_elements=["user_id", "bot_name"], set_=update, where=changed).returning(
        table.c.user_id
    )
    rows = [
        {
            "user_id": ids[u.telegram_id],
            "bot_name": bot_name,
            "session_data": u.session_data,
            "stats_data": u.stats_data,
            "xp": u.bot_xp,
        }
        for u in users
    ]
    by_user_id = {uid: tg for tg, uid in ids.items()}
    result = await session.execute(stmt, rows)
    return [by_user_id[int(uid)] for uid in result.scalars()]
