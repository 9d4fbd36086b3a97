"""SessionRepository: v4's methods, race-free, no write on read, version bumped on every write."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.defaults import default_session, default_stats
from persistence.models import BotSession
from persistence.repositories import SessionRepository, UserRepository

BOT = "spin_bot"


@pytest.fixture
async def user_id(db: AsyncSession) -> int:
    return (await UserRepository(db).get_or_create(7)).id


async def session_row(db: AsyncSession, bot_name: str = BOT) -> BotSession:
    stmt = select(BotSession).where(BotSession.bot_name == bot_name).execution_options(populate_existing=True)
    return (await db.execute(stmt)).scalar_one()


async def test_get_or_create_starts_with_v4_default_documents(db: AsyncSession, user_id: int) -> None:
    bot_session = await SessionRepository(db).get_or_create(user_id, BOT)
    assert bot_session.session_data == default_session()
    assert bot_session.session_data["chat_state"] == "new"
    assert bot_session.stats_data == default_stats()
    assert (bot_session.xp, bot_session.version) == (0, 0)


async def test_get_or_create_returns_the_existing_session_without_writing(db: AsyncSession, user_id: int) -> None:
    repo = SessionRepository(db)
    first = await repo.get_or_create(user_id, BOT)
    again = await repo.get_or_create(user_id, BOT)
    assert again.id == first.id
    assert (again.updated_at, again.version) == (first.updated_at, 0)


async def test_sessions_are_isolated_per_bot(db: AsyncSession, user_id: int) -> None:
    repo = SessionRepository(db)
    await repo.get_or_create(user_id, BOT)
    await repo.get_or_create(user_id, "other_bot")
    assert await repo.update_session(7, BOT, {"chat_state": "training_active"})
    other = await repo.get_by_telegram_id(7, "other_bot")
    assert other is not None
    assert other.session_data["chat_state"] == "new"


async def test_get_by_telegram_id_returns_none_without_a_session(db: AsyncSession, user_id: int) -> None:
    repo = SessionRepository(db)
    assert await repo.get_by_telegram_id(7, BOT) is None
    assert await repo.get_by_telegram_id(8, BOT) is None


async def test_get_or_create_by_telegram_id_creates_for_known_users_only(db: AsyncSession, user_id: int) -> None:
    repo = SessionRepository(db)
    created = await repo.get_or_create_by_telegram_id(7, BOT)
    assert created is not None
    assert created.user_id == user_id
    assert await repo.get_or_create_by_telegram_id(8, BOT) is None
    assert await UserRepository(db).count_total_users() == 1


async def test_update_session_replaces_the_document_and_bumps_version(db: AsyncSession, user_id: int) -> None:
    repo = SessionRepository(db)
    created = await repo.get_or_create(user_id, BOT)
    old = created.updated_at - timedelta(minutes=1)
    await db.execute(update(BotSession).values(updated_at=old))
    assert await repo.update_session(7, BOT, {"question_count": 5})
    row = await session_row(db)
    assert row.session_data == {"question_count": 5}
    assert row.stats_data == default_stats()
    assert row.version == 1
    assert row.updated_at > old


async def test_update_stats_replaces_only_the_stats(db: AsyncSession, user_id: int) -> None:
    repo = SessionRepository(db)
    await repo.get_or_create(user_id, BOT)
    assert await repo.update_stats(7, BOT, {"total_xp": 10})
    row = await session_row(db)
    assert (row.session_data, row.stats_data) == (default_session(), {"total_xp": 10})


async def test_update_both_replaces_both_documents(db: AsyncSession, user_id: int) -> None:
    repo = SessionRepository(db)
    await repo.get_or_create(user_id, BOT)
    assert await repo.update_both(7, BOT, {"a": 1}, {"b": [1, 2]})
    row = await session_row(db)
    assert (row.session_data, row.stats_data, row.version) == ({"a": 1}, {"b": [1, 2]}, 1)


async def test_v4_aliases_update_the_documents(db: AsyncSession, user_id: int) -> None:
    repo = SessionRepository(db)
    await repo.get_or_create(user_id, BOT)
    assert await repo.update_session_data(7, BOT, {"a": 1})
    assert await repo.update_stats_data(7, BOT, {"b": 2})
    row = await session_row(db)
    assert (row.session_data, row.stats_data, row.version) == ({"a": 1}, {"b": 2}, 2)


async def test_updates_never_create_a_session(db: AsyncSession, user_id: int) -> None:
    repo = SessionRepository(db)
    assert not await repo.update_session(7, BOT, {})
    assert not await repo.update_stats(7, BOT, {})
    assert not await repo.update_both(8, BOT, {}, {})
    assert not await repo.reset_session(7, BOT)
    assert (await db.execute(select(BotSession))).first() is None


async def test_reset_session_keeps_stats_by_default(db: AsyncSession, user_id: int) -> None:
    repo = SessionRepository(db)
    await repo.get_or_create(user_id, BOT)
    await repo.update_both(7, BOT, {"chat_state": "training_active"}, {"total_xp": 10})
    assert await repo.reset_session(7, BOT)
    row = await session_row(db)
    assert (row.session_data, row.stats_data) == (default_session(), {"total_xp": 10})


async def test_reset_session_without_keep_stats_resets_both(db: AsyncSession, user_id: int) -> None:
    repo = SessionRepository(db)
    await repo.get_or_create(user_id, BOT)
    await repo.update_both(7, BOT, {"chat_state": "training_active"}, {"total_xp": 10})
    assert await repo.reset_session(7, BOT, keep_stats=False)
    row = await session_row(db)
    assert (row.session_data, row.stats_data) == (default_session(), default_stats())


async def test_delete_session_removes_one_bot_only(db: AsyncSession, user_id: int) -> None:
    repo = SessionRepository(db)
    await repo.get_or_create(user_id, BOT)
    await repo.get_or_create(user_id, "other_bot")
    assert await repo.delete_session(7, BOT)
    assert not await repo.delete_session(7, BOT)
    assert [s.bot_name for s in await repo.get_all_user_sessions(7)] == ["other_bot"]


async def test_get_all_user_sessions_lists_the_most_recently_updated_first(db: AsyncSession, user_id: int) -> None:
    repo = SessionRepository(db)
    for bot in ("a_bot", "b_bot", "c_bot"):
        await repo.get_or_create(user_id, bot)
    base = (await session_row(db, "a_bot")).updated_at
    for minutes, bot in ((3, "b_bot"), (2, "a_bot"), (1, "c_bot")):
        stamp = base + timedelta(minutes=minutes)
        await db.execute(update(BotSession).where(BotSession.bot_name == bot).values(updated_at=stamp))
    assert [s.bot_name for s in await repo.get_all_user_sessions(7)] == ["b_bot", "a_bot", "c_bot"]
    assert await repo.get_all_user_sessions(8) == []


async def test_default_documents_are_fresh_copies() -> None:
    mutated = default_session()
    mutated["per_type_counts"]["x"] = 1
    assert default_session()["per_type_counts"] == {}
