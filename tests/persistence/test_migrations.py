"""Migrations: an empty database and a v4 database both reach exactly the models' schema.

The v4 schema below is written from v4's own models (the tables its ``Base.metadata.create_all`` made), not
from our baseline revision, so the upgrade is tested against v4 itself.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence.engine import close_db, create_engine, get_engine, init_db, sessionmaker_for
from persistence.enums import FreeTrainingSource, PaymentStatus, SubscriptionType
from persistence.migrate import alembic_config, current_revision, schema_differences, upgrade
from persistence.models import Base, BotSession, FreeTraining, Payment, Subscription, User

HEAD = "0005_week_xp"

V4_TYPES = {
    "postgresql": {"serial": "SERIAL", "ts": "TIMESTAMP WITHOUT TIME ZONE", "st": "subscriptiontype",
                   "ps": "paymentstatus", "fs": "freetrainingsource"},
    "sqlite": {"serial": "INTEGER", "ts": "DATETIME", "st": "VARCHAR(7)", "ps": "VARCHAR(9)", "fs": "VARCHAR(9)"},
}  # fmt: skip

V4_PG_ENUMS = [
    "CREATE TYPE subscriptiontype AS ENUM ('MONTH', 'YEAR', 'CREDITS')",
    "CREATE TYPE paymentstatus AS ENUM ('PENDING', 'COMPLETED', 'FAILED', 'REFUNDED')",
    "CREATE TYPE freetrainingsource AS ENUM ('CHANNEL', 'PROMOCODE', 'ADMIN')",
]

V4_DDL = [
    """CREATE TABLE users (id {serial} NOT NULL, telegram_id INTEGER NOT NULL, username VARCHAR(255),
    first_name VARCHAR(255), last_name VARCHAR(255), registration_date {ts} NOT NULL, last_activity {ts} NOT NULL,
    total_xp INTEGER NOT NULL, level INTEGER NOT NULL, total_trainings INTEGER NOT NULL,
    total_score INTEGER NOT NULL, PRIMARY KEY (id))""",
    "CREATE UNIQUE INDEX ix_users_telegram_id ON users (telegram_id)",
    """CREATE TABLE user_badges (id {serial} NOT NULL, user_id INTEGER NOT NULL, badge_type VARCHAR(100) NOT NULL,
    earned_in_bot VARCHAR(50) NOT NULL, earned_at {ts} NOT NULL, badge_metadata JSON, PRIMARY KEY (id),
    FOREIGN KEY(user_id) REFERENCES users (id))""",
    "CREATE INDEX ix_user_badges_badge_type ON user_badges (badge_type)",
    """CREATE TABLE bot_sessions (id {serial} NOT NULL, user_id INTEGER NOT NULL, bot_name VARCHAR(50) NOT NULL,
    session_data JSON NOT NULL, stats_data JSON NOT NULL, created_at {ts} NOT NULL, updated_at {ts} NOT NULL,
    PRIMARY KEY (id), FOREIGN KEY(user_id) REFERENCES users (id))""",
    "CREATE INDEX ix_bot_sessions_bot_name ON bot_sessions (bot_name)",
    """CREATE TABLE subscriptions (id {serial} NOT NULL, user_id INTEGER NOT NULL, subscription_type {st} NOT NULL,
    start_date {ts} NOT NULL, end_date {ts}, is_active BOOLEAN NOT NULL, auto_renew BOOLEAN NOT NULL,
    credits_total INTEGER, credits_left INTEGER, created_at {ts} NOT NULL, updated_at {ts} NOT NULL,
    PRIMARY KEY (id), FOREIGN KEY(user_id) REFERENCES users (id))""",
    """CREATE TABLE payments (id {serial} NOT NULL, user_id INTEGER NOT NULL, amount NUMERIC(10, 2) NOT NULL,
    currency VARCHAR(3) NOT NULL, provider VARCHAR(50) NOT NULL, payment_id VARCHAR(255), status {ps} NOT NULL,
    tariff VARCHAR(50) NOT NULL, description TEXT, payment_metadata TEXT, created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL, PRIMARY KEY (id), FOREIGN KEY(user_id) REFERENCES users (id))""",
    """CREATE TABLE promocodes (id {serial} NOT NULL, code VARCHAR(50) NOT NULL, type VARCHAR(50) NOT NULL,
    value INTEGER NOT NULL, max_uses INTEGER, current_uses INTEGER NOT NULL, expires_at {ts},
    created_at {ts} NOT NULL, PRIMARY KEY (id))""",
    "CREATE UNIQUE INDEX ix_promocodes_code ON promocodes (code)",
    """CREATE TABLE promocode_usage (id {serial} NOT NULL, user_id INTEGER NOT NULL, promocode_id INTEGER NOT NULL,
    used_at {ts} NOT NULL, PRIMARY KEY (id), FOREIGN KEY(user_id) REFERENCES users (id),
    FOREIGN KEY(promocode_id) REFERENCES promocodes (id))""",
    """CREATE TABLE free_trainings (id {serial} NOT NULL, user_id INTEGER NOT NULL, trainings_left INTEGER NOT NULL,
    source {fs} NOT NULL, created_at {ts} NOT NULL, updated_at {ts} NOT NULL, PRIMARY KEY (id),
    FOREIGN KEY(user_id) REFERENCES users (id))""",
    """CREATE TABLE training_history (id {serial} NOT NULL, user_id INTEGER NOT NULL, telegram_id INTEGER NOT NULL,
    training_date {ts} NOT NULL, scenario_name VARCHAR(255), total_score INTEGER NOT NULL,
    clarity_level INTEGER NOT NULL, question_count INTEGER NOT NULL, contextual_questions INTEGER NOT NULL,
    per_type_counts JSON, case_data JSON, session_snapshot JSON, created_at {ts} NOT NULL, PRIMARY KEY (id),
    FOREIGN KEY(user_id) REFERENCES users (id))""",
    "CREATE INDEX ix_training_history_telegram_id ON training_history (telegram_id)",
    "CREATE INDEX ix_training_history_training_date ON training_history (training_date)",
    """CREATE TABLE training_users (id {serial} NOT NULL, telegram_id INTEGER NOT NULL, session_data JSON NOT NULL,
    stats_data JSON NOT NULL, PRIMARY KEY (id))""",
    "CREATE UNIQUE INDEX ix_training_users_telegram_id ON training_users (telegram_id)",
]

T = "'2024-01-0{} 10:00:00'"  # a v4 naive UTC timestamp on day {}

V4_ROWS = [
    f"INSERT INTO users VALUES (1, 111, 'ann', 'Ann', NULL, {T.format(1)}, {T.format(2)}, 2147483000, 9, 3, 40)",
    f"INSERT INTO users VALUES (2, 222, NULL, NULL, NULL, {T.format(1)}, {T.format(1)}, 50, 1, 0, 0)",
    # bot_sessions: three rows for (1, spin_bot); the newest by updated_at (id 2) survives.
    f"""INSERT INTO bot_sessions VALUES (1, 1, 'spin_bot', '{{"n": 1}}', '{{}}', {T.format(1)}, {T.format(3)}),
    (2, 1, 'spin_bot', '{{"n": 2}}', '{{}}', {T.format(1)}, {T.format(5)}),
    (3, 1, 'spin_bot', '{{"n": 3}}', '{{}}', {T.format(1)}, {T.format(4)}),
    (4, 1, 'other_bot', '{{"n": 4}}', '{{}}', {T.format(1)}, {T.format(1)})""",
    # user_badges: the earliest of a duplicate pair (id 6) survives.
    f"""INSERT INTO user_badges VALUES (5, 1, 'maestro', 'spin_bot', {T.format(4)}, NULL),
    (6, 1, 'maestro', 'spin_bot', {T.format(2)}, NULL), (7, 1, 'maestro', 'other_bot', {T.format(3)}, NULL)""",
    f"INSERT INTO promocodes VALUES (1, 'FREE', 'trainings', 5, 0, 2, NULL, {T.format(1)})",
    f"INSERT INTO promocodes VALUES (2, 'ONCE', 'credits', 3, 1, 2, NULL, {T.format(1)})",
    f"INSERT INTO promocode_usage VALUES (1, 1, 1, {T.format(1)}), (2, 1, 1, {T.format(2)})",
    # free_trainings: two CHANNEL rows merge into one holding 2 + 3.
    f"""INSERT INTO free_trainings VALUES (1, 1, 2, 'CHANNEL', {T.format(1)}, {T.format(1)}),
    (2, 1, 3, 'CHANNEL', {T.format(2)}, {T.format(2)}), (3, 1, 4, 'PROMOCODE', {T.format(2)}, {T.format(2)})""",
    # payments: one provider payment recorded twice; the completed one survives.
    f"""INSERT INTO payments VALUES (1, 1, 990.00, 'RUB', 'yookassa', 'p-1', 'PENDING', 'month', NULL, NULL,
    {T.format(1)}, {T.format(1)}), (2, 1, 990.00, 'RUB', 'yookassa', 'p-1', 'COMPLETED', 'month', NULL, NULL,
    {T.format(1)}, {T.format(2)}), (3, 1, 6990.10, 'RUB', 'yookassa', NULL, 'FAILED', 'year', NULL, NULL,
    {T.format(1)}, {T.format(1)})""",
    # subscriptions: two active time subscriptions (the newest, id 2, stays active) and an active credits one.
    f"""INSERT INTO subscriptions VALUES (1, 1, 'MONTH', {T.format(1)}, NULL, TRUE, FALSE, NULL, NULL, {T.format(1)},
    {T.format(1)}), (2, 1, 'YEAR', {T.format(2)}, NULL, TRUE, FALSE, NULL, NULL, {T.format(2)}, {T.format(2)}),
    (3, 1, 'CREDITS', {T.format(3)}, NULL, TRUE, FALSE, 10, 4, {T.format(3)}, {T.format(3)})""",
    f"""INSERT INTO training_history VALUES (1, 1, 111, {T.format(3)}, 'spin', 120, 80, 6, 2, '{{"a": 1}}', NULL,
    NULL, {T.format(3)})""",
]


async def build_v4_database(url: str, rows: list[str]) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            types = V4_TYPES[conn.dialect.name]
            for statement in (V4_PG_ENUMS if conn.dialect.name == "postgresql" else []):
                await conn.execute(text(statement))
            for statement in V4_DDL:
                await conn.execute(text(statement.format(**types)))
            for statement in rows:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def differences(url: str) -> list[Any]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(schema_differences)
    finally:
        await engine.dispose()


@pytest.fixture
async def v4_engine(sql_url: str) -> AsyncIterator[AsyncEngine]:
    """A v4 database seeded with duplicates, upgraded to head."""
    await build_v4_database(sql_url, V4_ROWS)
    await upgrade(sql_url)
    engine = create_engine(sql_url)
    yield engine
    await engine.dispose()


async def rows(engine: AsyncEngine, stmt: Any) -> list[Any]:
    async with sessionmaker_for(engine)() as session:
        return list((await session.execute(stmt)).scalars())


# ---------------------------------------------------------------- empty database


async def test_upgrade_of_an_empty_database_gives_exactly_the_models_schema(sql_url: str) -> None:
    await upgrade(sql_url)
    assert await differences(sql_url) == []
    assert await current_revision(sql_url) == HEAD


async def test_upgrade_twice_changes_nothing(sql_url: str) -> None:
    await upgrade(sql_url)
    await upgrade(sql_url)
    assert await current_revision(sql_url) == HEAD
    assert await differences(sql_url) == []


async def test_a_database_made_by_create_all_is_stamped_at_head(sql_engine: AsyncEngine, sql_url: str) -> None:
    await upgrade(sql_url)
    assert await current_revision(sql_url) == HEAD
    assert await differences(sql_url) == []


async def unversioned_0002_database(url: str) -> None:
    """A database hotstore's ``create_all`` made before ``users.training_marks``: 0002's schema, no alembic_version."""
    await upgrade(url, "0002_hotstore")
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO users (telegram_id, total_trainings, total_score) VALUES (5, 2, 9)"))
            await conn.execute(text("DROP TABLE alembic_version"))
    finally:
        await engine.dispose()


async def test_a_database_made_by_an_older_hotstore_create_all_gets_the_training_marks(sql_url: str) -> None:
    await unversioned_0002_database(sql_url)
    await upgrade(sql_url)
    assert await current_revision(sql_url) == HEAD
    assert await differences(sql_url) == []
    engine = create_engine(sql_url)
    try:
        user = (await rows(engine, select(User)))[0]
        assert (user.total_trainings, user.total_score, user.training_marks) == (2, 9, None)
    finally:
        await engine.dispose()


@pytest.fixture
def bot_start(sql_url: str, monkeypatch: pytest.MonkeyPatch) -> Callable[[], AbstractAsyncContextManager[None]]:
    """What a bot's start-up does: ``init_db()`` (no in-process flusher, a private namespace), then ``close_db()``;
    inside, the database must be at head with exactly the models' schema."""
    monkeypatch.setenv("HOTSTORE_EMBEDDED_WORKER", "0")
    monkeypatch.setenv("HOTSTORE_NAMESPACE", f"t{uuid.uuid4().hex[:12]}")

    @asynccontextmanager
    async def started() -> AsyncIterator[None]:
        await init_db(sql_url)
        try:
            assert await current_revision(sql_url) == HEAD
            assert await differences(sql_url) == []
            yield
        finally:
            await close_db()

    return started


async def test_init_db_upgrades_a_database_made_by_an_older_hotstore(
    sql_url: str, bot_start: Callable[[], AbstractAsyncContextManager[None]]
) -> None:
    await unversioned_0002_database(sql_url)
    async with bot_start():
        pass


def _downgrade_on(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def test_0003_downgrades_in_place_and_upgrades_again(sql_url: str) -> None:
    await upgrade(sql_url)
    engine = create_engine(sql_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO users (telegram_id) VALUES (5)"))
            await conn.execute(text("INSERT INTO bot_sessions (user_id, bot_name) SELECT id, 'b' FROM users"))
        async with engine.connect() as conn:
            await conn.run_sync(_downgrade_on, "0002_hotstore")
            await conn.commit()
            columns = await conn.run_sync(lambda sync: [c["name"] for c in inspect(sync).get_columns("users")])
        assert "training_marks" not in columns
        await upgrade(sql_url)
        assert await differences(sql_url) == []
        assert len(await rows(engine, select(BotSession))) == 1  # no rebuild of users, nothing cascaded
    finally:
        await engine.dispose()


async def test_a_database_made_by_a_0003_hotstore_create_all_gets_the_documents_table(sql_url: str) -> None:
    await upgrade(sql_url, "0003_training_marks")
    engine = create_engine(sql_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO users (telegram_id) VALUES (5)"))
            await conn.execute(text("INSERT INTO bot_sessions (user_id, bot_name) SELECT id, 'b' FROM users"))
            await conn.execute(text("DROP TABLE alembic_version"))
        await upgrade(sql_url)
        assert await current_revision(sql_url) == HEAD
        assert await differences(sql_url) == []
        session = (await rows(engine, select(BotSession)))[0]
        assert (session.bot_name, session.fsm_state) == ("b", None)
    finally:
        await engine.dispose()


async def test_0004_downgrades_in_place_and_upgrades_again(sql_url: str) -> None:
    await upgrade(sql_url)
    engine = create_engine(sql_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO users (telegram_id) VALUES (5)"))
            await conn.execute(
                text("INSERT INTO bot_sessions (user_id, bot_name, fsm_state) SELECT id, 'b', 'S' FROM users"))
        async with engine.connect() as conn:
            await conn.run_sync(_downgrade_on, "0003_training_marks")
            await conn.commit()
            tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        assert "bot_documents" not in tables
        await upgrade(sql_url)
        assert await differences(sql_url) == []
        assert len(await rows(engine, select(BotSession))) == 1  # no rebuild of bot_sessions, nothing cascaded
    finally:
        await engine.dispose()


async def test_the_models_differ_from_an_empty_database(sql_url: str) -> None:
    # Guards the guard: compare_metadata does see a missing schema.
    assert await differences(sql_url) != []


# ---------------------------------------------------------------- v4 database


async def test_v4_database_upgrades_to_exactly_the_models_schema(v4_engine: AsyncEngine, sql_url: str) -> None:
    assert await current_revision(sql_url) == HEAD
    assert await differences(sql_url) == []


async def test_v4_upgrade_keeps_users_and_their_xp(v4_engine: AsyncEngine) -> None:
    users = await rows(v4_engine, select(User).order_by(User.id))
    assert [(u.telegram_id, u.total_xp, u.level, u.total_trainings, u.total_score) for u in users] == [
        (111, 2147483000, 9, 3, 40),
        (222, 50, 1, 0, 0),
    ]
    assert users[0].last_activity == datetime(2024, 1, 2, 10, tzinfo=UTC)
    assert users[0].version == 0


async def test_v4_upgrade_widens_telegram_ids_and_xp_to_bigint(v4_engine: AsyncEngine) -> None:
    async with v4_engine.begin() as conn:
        await conn.execute(text("UPDATE users SET total_xp = total_xp + 5000000000, telegram_id = 8000000000"
                                " WHERE id = 1"))  # fmt: skip
    user = (await rows(v4_engine, select(User).where(User.id == 1)))[0]
    assert (user.telegram_id, user.total_xp) == (8000000000, 2147483000 + 5000000000)


async def test_v4_upgrade_keeps_the_newest_session_per_user_and_bot(v4_engine: AsyncEngine) -> None:
    sessions = await rows(v4_engine, select(BotSession).order_by(BotSession.bot_name))
    assert [(s.bot_name, s.session_data) for s in sessions] == [("other_bot", {"n": 4}), ("spin_bot", {"n": 2})]
    assert all(s.xp == 0 and s.version == 0 for s in sessions)


async def test_v4_upgrade_keeps_the_earliest_badge_per_user_type_and_bot(v4_engine: AsyncEngine) -> None:
    async with v4_engine.connect() as conn:
        ids = (await conn.execute(text("SELECT id FROM user_badges ORDER BY id"))).scalars().all()
    assert list(ids) == [6, 7]


async def test_v4_upgrade_keeps_one_usage_per_user_and_promocode(v4_engine: AsyncEngine) -> None:
    async with v4_engine.connect() as conn:
        ids = (await conn.execute(text("SELECT id FROM promocode_usage"))).scalars().all()
    assert list(ids) == [1]


async def test_v4_upgrade_fixes_promocode_limits_v4_read_differently(v4_engine: AsyncEngine) -> None:
    async with v4_engine.connect() as conn:
        limits = (await conn.execute(text("SELECT code, max_uses, current_uses FROM promocodes ORDER BY id"))).all()
    assert [tuple(row) for row in limits] == [("FREE", None, 2), ("ONCE", 2, 2)]


async def test_v4_upgrade_sums_free_trainings_per_source(v4_engine: AsyncEngine) -> None:
    trainings = await rows(v4_engine, select(FreeTraining).order_by(FreeTraining.id))
    assert [(t.source, t.trainings_left) for t in trainings] == [
        (FreeTrainingSource.CHANNEL, 5),
        (FreeTrainingSource.PROMOCODE, 4),
    ]


async def test_v4_upgrade_keeps_the_furthest_payment_per_provider_id(v4_engine: AsyncEngine) -> None:
    payments = await rows(v4_engine, select(Payment).order_by(Payment.id))
    assert [(p.id, p.status, p.amount) for p in payments] == [
        (2, PaymentStatus.COMPLETED, Decimal("990.00")),
        (3, PaymentStatus.FAILED, Decimal("6990.10")),
    ]


async def test_v4_upgrade_leaves_one_active_subscription_per_kind(v4_engine: AsyncEngine) -> None:
    subs = await rows(v4_engine, select(Subscription).order_by(Subscription.id))
    assert [(s.subscription_type, s.kind, s.is_active) for s in subs] == [
        (SubscriptionType.MONTH, "time", False),
        (SubscriptionType.YEAR, "time", True),
        (SubscriptionType.CREDITS, "credits", True),
    ]


async def test_v4_upgrade_adds_cascading_deletes(v4_engine: AsyncEngine) -> None:
    async with v4_engine.begin() as conn:
        await conn.execute(text("DELETE FROM users WHERE id = 1"))
    async with v4_engine.connect() as conn:
        for table in ("bot_sessions", "user_badges", "payments", "subscriptions", "free_trainings",
                      "promocode_usage", "training_history"):  # fmt: skip
            assert (await conn.execute(text(f"SELECT COUNT(*) FROM {table}"))).scalar() == 0, table


async def test_v4_upgrade_enforces_the_new_unique_keys(v4_engine: AsyncEngine) -> None:
    async with sessionmaker_for(v4_engine)() as session:
        session.add(BotSession(user_id=2, bot_name="spin_bot", session_data={}, stats_data={}))
        session.add(BotSession(user_id=2, bot_name="spin_bot", session_data={}, stats_data={}))
        with pytest.raises(Exception, match=r"(?i)unique"):
            await session.commit()


async def test_v4_upgrade_drops_the_empty_legacy_table(v4_engine: AsyncEngine) -> None:
    async with v4_engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    assert "training_users" not in tables


async def test_v4_upgrade_keeps_a_legacy_table_that_holds_rows(sql_url: str) -> None:
    await build_v4_database(sql_url, [*V4_ROWS, "INSERT INTO training_users VALUES (1, 111, '{}', '{}')"])
    await upgrade(sql_url)
    assert await differences(sql_url) == []
    engine = create_engine(sql_url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT COUNT(*) FROM training_users"))).scalar() == 1
    finally:
        await engine.dispose()


async def test_v4_upgrade_of_an_empty_v4_database_works(sql_url: str) -> None:
    await build_v4_database(sql_url, [])
    await upgrade(sql_url)
    assert await differences(sql_url) == []


def test_base_metadata_lists_every_v4_table() -> None:
    v4_tables = {"users", "user_badges", "bot_sessions", "subscriptions", "payments", "promocodes",
                 "promocode_usage", "free_trainings", "training_history"}  # fmt: skip
    assert v4_tables <= set(Base.metadata.tables)


async def test_init_db_upgrades_a_v4_database_so_a_switched_bot_just_starts(
    sql_url: str, bot_start: Callable[[], AbstractAsyncContextManager[None]]
) -> None:
    await build_v4_database(sql_url, V4_ROWS)
    async with bot_start():
        users = await rows(get_engine(), select(User.telegram_id).order_by(User.telegram_id))
        assert users == [111, 222]


async def test_init_db_upgrades_a_database_alembic_stamped_at_an_older_revision(
    sql_url: str, bot_start: Callable[[], AbstractAsyncContextManager[None]]
) -> None:
    await upgrade(sql_url, "0002_hotstore")
    async with bot_start():
        pass
