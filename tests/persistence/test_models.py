"""Models: v4's names and shapes, with v4's defects fixed by constraints the database enforces."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import BigInteger, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.enums import FreeTrainingSource, SubscriptionType
from persistence.models import Base, BotSession, FreeTraining, Subscription, TrainingHistory, User, UserBadge


async def new_user(db: AsyncSession, telegram_id: int = 7) -> User:
    user = User(telegram_id=telegram_id)
    db.add(user)
    await db.flush()
    return user


def unique_keys(table: str) -> set[tuple[str, ...]]:
    constraints = Base.metadata.tables[table].constraints
    return {tuple(c.columns.keys()) for c in constraints if isinstance(c, UniqueConstraint)}


def test_telegram_ids_are_64_bit() -> None:
    assert isinstance(User.__table__.c.telegram_id.type, BigInteger)
    assert isinstance(TrainingHistory.__table__.c.telegram_id.type, BigInteger)


def test_write_behind_tables_carry_a_version() -> None:
    assert {"users", "bot_sessions"} <= {t.name for t in Base.metadata.sorted_tables if "version" in t.c}


def test_every_user_foreign_key_cascades_and_is_indexed() -> None:
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name == "users":
                assert fk.ondelete == "CASCADE", table.name
                assert fk.parent.index, table.name


def test_unique_keys_close_v4_races() -> None:
    assert ("user_id", "bot_name") in unique_keys("bot_sessions")
    assert ("user_id", "badge_type", "earned_in_bot") in unique_keys("user_badges")
    assert ("provider", "payment_id") in unique_keys("payments")
    assert ("user_id", "promocode_id") in unique_keys("promocode_usage")
    assert ("user_id", "source") in unique_keys("free_trainings")


async def test_user_defaults_come_from_the_database(db: AsyncSession) -> None:
    user = await new_user(db)
    await db.refresh(user)
    assert (user.total_xp, user.level, user.total_trainings, user.total_score, user.version) == (0, 1, 0, 0, 0)


async def test_user_to_dict_has_v4_keys_and_iso_timestamps(db: AsyncSession) -> None:
    user = await new_user(db)
    user.registration_date = user.last_activity = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    data = user.to_dict()
    assert set(data) == {"id", "telegram_id", "username", "first_name", "last_name", "total_xp", "level",
                         "total_trainings", "registration_date", "last_activity"}  # fmt: skip
    assert data["registration_date"] == "2024-01-02T03:04:05+00:00"


async def test_second_session_for_the_same_user_and_bot_is_rejected(db: AsyncSession) -> None:
    user = await new_user(db)
    db.add_all([BotSession(user_id=user.id, bot_name="b"), BotSession(user_id=user.id, bot_name="b")])
    with pytest.raises(IntegrityError):
        await db.flush()


async def test_bot_session_documents_default_to_empty_objects(db: AsyncSession) -> None:
    user = await new_user(db)
    bot_session = BotSession(user_id=user.id, bot_name="b")
    db.add(bot_session)
    await db.flush()
    await db.refresh(bot_session)
    assert bot_session.to_dict() == {"session": {}, "stats": {}}


async def test_only_one_active_subscription_per_kind(db: AsyncSession) -> None:
    user = await new_user(db)
    db.add(Subscription(user_id=user.id, subscription_type=SubscriptionType.MONTH, is_active=False))
    db.add(Subscription(user_id=user.id, subscription_type=SubscriptionType.MONTH))
    db.add(Subscription(user_id=user.id, subscription_type=SubscriptionType.CREDITS, kind="credits"))
    await db.flush()
    db.add(Subscription(user_id=user.id, subscription_type=SubscriptionType.YEAR))
    with pytest.raises(IntegrityError):
        await db.flush()


async def test_free_trainings_cannot_go_negative(db: AsyncSession) -> None:
    user = await new_user(db)
    db.add(FreeTraining(user_id=user.id, source=FreeTrainingSource.ADMIN, trainings_left=-1))
    with pytest.raises(IntegrityError):
        await db.flush()


async def test_deleting_a_user_deletes_its_rows_in_the_database(db: AsyncSession) -> None:
    user = await new_user(db)
    db.add(UserBadge(user_id=user.id, badge_type="x", earned_in_bot="b"))
    db.add(TrainingHistory(user_id=user.id, telegram_id=7))
    await db.commit()
    await db.execute(User.__table__.delete())
    await db.commit()
    assert (await db.execute(select(UserBadge))).first() is None
    assert (await db.execute(select(TrainingHistory))).first() is None
