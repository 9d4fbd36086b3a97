"""Engine and column types: v4's init_db/get_session/close_db, URL normalisation, exact money, enums, UTC."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from persistence import engine as engine_module
from persistence.engine import close_db, database_url, get_session, init_db
from persistence.enums import PromocodeType, SubscriptionType
from persistence.models import Payment, Promocode, Subscription, User
from persistence.types import to_money


@pytest.fixture
async def closed_db() -> AsyncIterator[None]:
    """The process-wide engine is closed after the test, whatever it did."""
    yield
    await close_db()


async def user_id(db: AsyncSession, telegram_id: int = 7) -> int:
    user = User(telegram_id=telegram_id)
    db.add(user)
    await db.flush()
    return user.id


# ---------------------------------------------------------------- URLs


def test_plain_postgresql_url_gets_the_asyncpg_driver() -> None:
    assert database_url("postgresql://u:p@h:5432/d") == "postgresql+asyncpg://u:p@h:5432/d"
    assert database_url("postgres://u@h/d") == "postgresql+asyncpg://u@h/d"


def test_url_with_a_driver_is_kept() -> None:
    assert database_url("postgresql+asyncpg://u@h/d") == "postgresql+asyncpg://u@h/d"


def test_plain_sqlite_url_gets_the_aiosqlite_driver() -> None:
    assert database_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"


def test_no_url_means_database_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://env@h/d")
    assert database_url() == "postgresql+asyncpg://env@h/d"


def test_no_url_and_no_environment_means_a_sqlite_file_in_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert database_url() == "sqlite+aiosqlite:///./hotstore.db"


# ---------------------------------------------------------------- init_db / get_session / close_db


async def test_init_db_without_a_url_creates_the_sqlite_file_in_cwd(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, closed_db: None
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    await init_db()
    async with get_session() as session:
        assert (await session.execute(select(User))).first() is None
    assert (tmp_path / "hotstore.db").exists()


async def test_get_session_commits_on_success(sql_url: str, closed_db: None) -> None:
    await init_db(sql_url)
    async with get_session() as session:
        session.add(User(telegram_id=7))
    async with get_session() as session:
        assert (await session.execute(select(User.telegram_id))).scalars().all() == [7]


async def test_get_session_rolls_back_and_reraises_on_error(sql_url: str, closed_db: None) -> None:
    await init_db(sql_url)
    with pytest.raises(RuntimeError, match="boom"):
        async with get_session() as session:
            session.add(User(telegram_id=7))
            await session.flush()
            raise RuntimeError("boom")
    async with get_session() as session:
        assert (await session.execute(select(User))).first() is None


async def test_close_db_forgets_the_engine(tmp_path: Path) -> None:
    await init_db(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    await close_db()
    assert engine_module._engine is None


async def test_init_db_is_idempotent(tmp_path: Path, closed_db: None) -> None:
    first = await init_db(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    assert await init_db() is first


# ---------------------------------------------------------------- Money


async def test_money_is_exact_on_both_backends(db: AsyncSession) -> None:
    amount = Decimal("98765432.19")
    db.add(Payment(user_id=await user_id(db), amount=amount, provider="p", tariff="t"))
    await db.commit()
    stored = (await db.execute(select(Payment.amount).execution_options(populate_existing=True))).scalar_one()
    assert stored == amount
    assert str(stored) == "98765432.19"


def test_money_rejects_floats_and_sub_cent_amounts() -> None:
    with pytest.raises(ValueError, match="float"):
        to_money(9.99)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="decimal places"):
        to_money(Decimal("1.001"))
    assert to_money("990") == Decimal("990.00")


# ---------------------------------------------------------------- FlexibleEnum


async def test_flexible_enum_reads_names_and_values(db: AsyncSession) -> None:
    uid = await user_id(db)
    for spelling in ("MONTH", "month"):
        await db.execute(
            text("INSERT INTO subscriptions (user_id, subscription_type, is_active) VALUES (:u, :t, :a)"),
            {"u": uid, "t": spelling, "a": spelling == "MONTH"},
        )
    types = (await db.execute(select(Subscription.subscription_type))).scalars().all()
    assert types == [SubscriptionType.MONTH, SubscriptionType.MONTH]


async def test_flexible_enum_writes_the_configured_spelling(db: AsyncSession) -> None:
    uid = await user_id(db)
    db.add(Subscription(user_id=uid, subscription_type=SubscriptionType.YEAR))
    db.add(Promocode(code="X", type=PromocodeType.FREE_MONTH, value=1))
    await db.flush()
    raw_type = (await db.execute(text("SELECT subscription_type FROM subscriptions"))).scalar()
    raw_promo = (await db.execute(text("SELECT type FROM promocodes"))).scalar()
    assert (raw_type, raw_promo) == ("YEAR", "free_month")


# ---------------------------------------------------------------- UTC datetimes


async def test_datetimes_come_back_aware_utc(db: AsyncSession) -> None:
    moscow = timezone(timedelta(hours=3))
    db.add(User(telegram_id=1, registration_date=datetime(2024, 5, 1, 13, 0, tzinfo=moscow)))
    db.add(User(telegram_id=2, registration_date=datetime(2024, 5, 1, 10, 0)))  # naive means UTC
    await db.commit()
    stamps = (
        (
            await db.execute(
                select(User.registration_date).order_by(User.telegram_id).execution_options(populate_existing=True)
            )
        )
        .scalars()
        .all()
    )
    assert stamps == [datetime(2024, 5, 1, 10, tzinfo=UTC)] * 2
    assert all(stamp.tzinfo == UTC for stamp in stamps)


async def test_server_default_timestamps_are_aware(db: AsyncSession) -> None:
    await db.execute(text("INSERT INTO users (telegram_id) VALUES (9)"))
    stamp = (await db.execute(select(User.registration_date))).scalar_one()
    assert stamp.tzinfo == UTC
    assert abs(stamp - datetime.now(UTC)) < timedelta(minutes=5)
