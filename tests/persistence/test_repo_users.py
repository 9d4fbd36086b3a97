"""UserRepository: v4's methods, race-free, no write on read, version bumped on every write."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from persistence.engine import sessionmaker_for
from persistence.models import BotSession, User
from persistence.repositories import SessionRepository, UserRepository


async def user_row(db: AsyncSession, telegram_id: int) -> User:
    stmt = select(User).where(User.telegram_id == telegram_id).execution_options(populate_existing=True)
    return (await db.execute(stmt)).scalar_one()


async def test_get_or_create_inserts_a_new_user_with_v4_defaults(db: AsyncSession) -> None:
    user = await UserRepository(db).get_or_create(5_000_000_000, username="ann", first_name="Ann")
    assert (user.telegram_id, user.username, user.first_name, user.last_name) == (5_000_000_000, "ann", "Ann", None)
    assert (user.total_xp, user.level, user.total_trainings, user.total_score, user.version) == (0, 1, 0, 0, 0)
    assert user.registration_date.tzinfo is not None


async def test_get_or_create_returns_the_existing_user_without_writing(db: AsyncSession) -> None:
    repo = UserRepository(db)
    first = await repo.get_or_create(7, username="ann")
    again = await repo.get_or_create(7, username="ann")
    assert again.id == first.id
    assert again.version == 0
    assert await repo.count_total_users() == 1


async def test_get_or_create_overwrites_a_name_only_with_a_new_non_empty_value(db: AsyncSession) -> None:
    repo = UserRepository(db)
    await repo.get_or_create(7, username="ann", first_name="Ann", last_name="Lee")
    user = await repo.get_or_create(7, username="anna", first_name="", last_name=None)
    assert (user.username, user.first_name, user.last_name) == ("anna", "Ann", "Lee")
    assert user.version == 1


async def test_get_or_create_refreshes_last_activity_older_than_a_minute(db: AsyncSession) -> None:
    repo = UserRepository(db)
    user = await repo.get_or_create(7)
    old = user.last_activity - timedelta(minutes=5)
    await db.execute(update(User).where(User.telegram_id == 7).values(last_activity=old))
    refreshed = await repo.get_or_create(7)
    assert refreshed.last_activity > old + timedelta(minutes=4)
    assert refreshed.version == 1


async def test_get_by_telegram_id_and_get_by_id_return_none_for_unknown_users(db: AsyncSession) -> None:
    repo = UserRepository(db)
    user = await repo.get_or_create(7)
    assert (await repo.get_by_telegram_id(7)) is user
    assert (await repo.get_by_id(user.id)) is user
    assert await repo.get_by_telegram_id(8) is None
    assert await repo.get_by_id(user.id + 1) is None


async def test_counters_add_atomically_and_bump_the_version(db: AsyncSession) -> None:
    repo = UserRepository(db)
    await repo.get_or_create(7)
    assert await repo.add_xp(7, 150)
    assert await repo.add_xp(7, 2**40)
    assert await repo.update_level(7, 3)
    assert await repo.increment_training_count(7)
    assert await repo.add_score(7, 42)
    user = await user_row(db, 7)
    assert (user.total_xp, user.level, user.total_trainings, user.total_score) == (150 + 2**40, 3, 1, 42)
    assert user.version == 5


async def test_counter_updates_of_an_unknown_user_return_false(db: AsyncSession) -> None:
    repo = UserRepository(db)
    assert not await repo.add_xp(7, 10)
    assert not await repo.update_level(7, 2)
    assert not await repo.increment_training_count(7)
    assert not await repo.add_score(7, 1)
    assert await repo.count_total_users() == 0


async def seed_xp(repo: UserRepository, xp_by_telegram_id: dict[int, int]) -> None:
    for telegram_id, xp in xp_by_telegram_id.items():
        await repo.get_or_create(telegram_id)
        await repo.add_xp(telegram_id, xp)


async def test_leaderboard_orders_by_xp_then_telegram_id_ascending(db: AsyncSession) -> None:
    repo = UserRepository(db)
    await seed_xp(repo, {30: 50, 10: 50, 20: 90, 40: 5})
    board = await repo.get_leaderboard(limit=10)
    assert [u.telegram_id for u in board] == [20, 10, 30, 40]
    page = await repo.get_leaderboard(limit=2, offset=1)
    assert [u.telegram_id for u in page] == [10, 30]


async def test_user_rank_is_one_plus_users_with_strictly_more_xp(db: AsyncSession) -> None:
    repo = UserRepository(db)
    await seed_xp(repo, {1: 100, 2: 50, 3: 50, 4: 10})
    assert [await repo.get_user_rank(tg) for tg in (1, 2, 3, 4)] == [1, 2, 2, 4]
    assert await repo.get_user_rank(99) is None


async def test_delete_removes_the_user_and_cascades_to_sessions(db: AsyncSession) -> None:
    repo = UserRepository(db)
    user = await repo.get_or_create(7)
    await SessionRepository(db).get_or_create(user.id, "spin_bot")
    assert await repo.delete(7)
    assert await repo.get_by_telegram_id(7) is None
    assert (await db.execute(select(BotSession))).first() is None
    assert not await repo.delete(7)


async def first_contact(engine: AsyncEngine, telegram_id: int, bots: tuple[str, ...]) -> tuple[int, list[int]]:
    async with sessionmaker_for(engine)() as session, session.begin():
        user = await UserRepository(session).get_or_create(telegram_id, username="racer")
        bot_sessions = [await SessionRepository(session).get_or_create(user.id, bot) for bot in bots]
        return user.id, [s.id for s in bot_sessions]


async def test_fifty_concurrent_first_contacts_create_one_user_and_one_session_per_bot(
    sql_engine: AsyncEngine,
) -> None:
    bots = ("spin_bot", "other_bot")
    results = await asyncio.gather(*(first_contact(sql_engine, 6_000_000_001, bots) for _ in range(50)))
    assert len({user_id for user_id, _ in results}) == 1
    assert len({tuple(session_ids) for _, session_ids in results}) == 1
    async with sessionmaker_for(sql_engine)() as session:
        assert await UserRepository(session).count_total_users() == 1
        rows = (await session.execute(select(BotSession.bot_name))).scalars().all()
    assert sorted(rows) == sorted(bots)
