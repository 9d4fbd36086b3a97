"""hotstore: upgrade the v4 schema to hotstore's.

BIGINT ids and Telegram ids, aware timestamps, JSONB, enums as VARCHAR (names kept), the new columns
(``version``, ``xp``, ``kind``, ``subscription_id``, ``granted_*``, ``bot_name``), server defaults, indexes,
unique keys, check constraints and ``ON DELETE CASCADE``. Rows the new unique keys forbid are merged first
(docs/migrations.md lists the rules). PostgreSQL is altered in place in one transaction; SQLite tables
are rebuilt (it cannot alter columns), with foreign keys off (env.py).

The target schema is written out below, frozen at this revision: later model changes need new revisions.

Revision ID: 0002_hotstore
Revises: 0001_v4_baseline
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.schema import SchemaItem

revision: str = "0002_hotstore"
down_revision: str | Sequence[str] | None = "0001_v4_baseline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STAMP = sa.DateTime(timezone=True)
DOC = sa.JSON().with_variant(JSONB(), "postgresql")
MONEY = sa.Numeric(12, 2).with_variant(sa.String(32), "sqlite")
ENUM = sa.String(32)
NOW = sa.func.now()
ZERO = sa.text("0")
CHILDREN = ("user_badges", "bot_sessions", "subscriptions", "payments", "promocode_usage", "free_trainings")
ENUM_TYPES = ("subscriptiontype", "paymentstatus", "freetrainingsource")


def _id(table: str) -> list[SchemaItem]:
    return [
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
    ]


def _user(table: str) -> list[SchemaItem]:
    fk = sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=f"fk_{table}_user_id_users", ondelete="CASCADE")
    return [sa.Column("user_id", sa.BigInteger(), nullable=False), fk, sa.Index(f"ix_{table}_user_id", "user_id")]


def _stamps(*names: str) -> list[SchemaItem]:
    return [sa.Column(name, STAMP, nullable=False, server_default=NOW) for name in names]


def _int(name: str, big: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger() if big else sa.Integer(), nullable=False, server_default=ZERO)


def frozen_schema() -> sa.MetaData:
    """hotstore's schema at this revision (equal to persistence.models when it was written)."""
    meta = sa.MetaData()
    sa.Table(
        "users",
        meta,
        *_id("users"),
        sa.Column("telegram_id", sa.BigInteger(), nullable=False),
        sa.Column("username", sa.String(255)),
        sa.Column("first_name", sa.String(255)),
        sa.Column("last_name", sa.String(255)),
        *_stamps("registration_date", "last_activity"),
        _int("total_xp", big=True),
        sa.Column("level", sa.Integer(), nullable=False, server_default=sa.text("1")),
        _int("total_trainings"),
        _int("total_score", big=True),
        _int("version", big=True),
        sa.Index("ix_users_telegram_id", "telegram_id", unique=True),
        sa.Index("ix_users_total_xp", "total_xp"),
    )
    sa.Table(
        "user_badges",
        meta,
        *_id("user_badges"),
        *_user("user_badges"),
        sa.Column("badge_type", sa.String(100), nullable=False),
        sa.Column("earned_in_bot", sa.String(50), nullable=False),
        *_stamps("earned_at"),
        sa.Column("badge_metadata", DOC),
        sa.UniqueConstraint(
            "user_id", "badge_type", "earned_in_bot", name="uq_user_badges_user_id_badge_type_earned_in_bot"
        ),
        sa.Index("ix_user_badges_badge_type", "badge_type"),
    )
    sa.Table(
        "bot_sessions",
        meta,
        *_id("bot_sessions"),
        *_user("bot_sessions"),
        sa.Column("bot_name", sa.String(50), nullable=False),
        sa.Column("session_data", DOC, nullable=False, server_default=sa.text("'{}'")),
        sa.Column("stats_data", DOC, nullable=False, server_default=sa.text("'{}'")),
        _int("xp", big=True),
        *_stamps("created_at", "updated_at"),
        _int("version", big=True),
        sa.UniqueConstraint("user_id", "bot_name", name="uq_bot_sessions_user_id_bot_name"),
        sa.Index("ix_bot_sessions_bot_name", "bot_name"),
    )
    sa.Table(
        "subscriptions",
        meta,
        *_id("subscriptions"),
        *_user("subscriptions"),
        sa.Column("subscription_type", ENUM, nullable=False),
        sa.Column("kind", sa.String(10), nullable=False, server_default=sa.text("'time'")),
        *_stamps("start_date"),
        sa.Column("end_date", STAMP),
        sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("auto_renew", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("credits_total", sa.Integer()),
        sa.Column("credits_left", sa.Integer()),
        *_stamps("created_at", "updated_at"),
        sa.Index("ix_subscriptions_user_id_is_active", "user_id", "is_active"),
        sa.Index(
            "uq_subscriptions_active_kind",
            "user_id",
            "kind",
            unique=True,
            postgresql_where=sa.text("is_active"),
            sqlite_where=sa.text("is_active"),
        ),
        sa.CheckConstraint(
            "credits_left IS NULL OR credits_left >= 0", name="ck_subscriptions_credits_left_non_negative"
        ),
    )
    sa.Table(
        "payments",
        meta,
        *_id("payments"),
        *_user("payments"),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False, server_default=sa.text("'RUB'")),
        sa.Column("provider", sa.String(50), nullable=False),
        sa.Column("payment_id", sa.String(255)),
        sa.Column("status", ENUM, nullable=False, server_default=sa.text("'PENDING'")),
        sa.Column("tariff", sa.String(50), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("payment_metadata", sa.Text()),
        sa.Column("subscription_id", sa.BigInteger()),
        sa.Column("granted_days", sa.Integer()),
        sa.Column("granted_credits", sa.Integer()),
        *_stamps("created_at", "updated_at"),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name="fk_payments_subscription_id_subscriptions",
            ondelete="SET NULL",
        ),
        sa.UniqueConstraint("provider", "payment_id", name="uq_payments_provider_payment_id"),
        sa.Index("ix_payments_subscription_id", "subscription_id"),
    )
    sa.Table(
        "promocodes",
        meta,
        *_id("promocodes"),
        sa.Column("code", sa.String(50), nullable=False),
        sa.Column("type", ENUM, nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("max_uses", sa.Integer()),
        _int("current_uses"),
        sa.Column("expires_at", STAMP),
        *_stamps("created_at"),
        sa.Index("ix_promocodes_code", "code", unique=True),
        sa.CheckConstraint("max_uses IS NULL OR current_uses <= max_uses", name="ck_promocodes_uses_within_max"),
        sa.CheckConstraint("value >= 0", name="ck_promocodes_value_non_negative"),
    )
    sa.Table(
        "promocode_usage",
        meta,
        *_id("promocode_usage"),
        *_user("promocode_usage"),
        sa.Column("promocode_id", sa.BigInteger(), nullable=False),
        *_stamps("used_at"),
        sa.ForeignKeyConstraint(
            ["promocode_id"], ["promocodes.id"], name="fk_promocode_usage_promocode_id_promocodes", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("user_id", "promocode_id", name="uq_promocode_usage_user_id_promocode_id"),
        sa.Index("ix_promocode_usage_promocode_id", "promocode_id"),
    )
    sa.Table(
        "free_trainings",
        meta,
        *_id("free_trainings"),
        *_user("free_trainings"),
        _int("trainings_left"),
        sa.Column("source", ENUM, nullable=False),
        *_stamps("created_at", "updated_at"),
        sa.UniqueConstraint("user_id", "source", name="uq_free_trainings_user_id_source"),
        sa.CheckConstraint("trainings_left >= 0", name="ck_free_trainings_trainings_left_non_negative"),
    )
    sa.Table(
        "training_history",
        meta,
        *_id("training_history"),
        *_user("training_history"),
        sa.Column("telegram_id", sa.BigInteger(), nullable=False),
        sa.Column("bot_name", sa.String(50)),
        *_stamps("training_date"),
        sa.Column("scenario_name", sa.String(255)),
        _int("total_score"),
        _int("clarity_level"),
        _int("question_count"),
        _int("contextual_questions"),
        sa.Column("per_type_counts", DOC),
        sa.Column("case_data", DOC),
        sa.Column("session_snapshot", DOC),
        *_stamps("created_at"),
        sa.Index("ix_training_history_telegram_id", "telegram_id"),
        sa.Index("ix_training_history_training_date", "training_date"),
        sa.Index("ix_training_history_telegram_id_training_date", "telegram_id", "training_date"),
    )
    return meta


def upgrade() -> None:
    meta = frozen_schema()
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        _drop_foreign_keys(meta)
    _add_new_columns(meta)
    _clean_v4_rows()
    if dialect == "postgresql":
        _alter_postgresql(meta)
    else:
        _rebuild_sqlite(meta)
    _drop_legacy_table_if_empty("training_users")


def downgrade() -> None:
    raise NotImplementedError("0002_hotstore merges rows and widens types: restore a backup to go back to v4")


# ---------------------------------------------------------------- both backends


def _add_new_columns(meta: sa.MetaData) -> None:
    """Columns v4 lacks, added with their defaults (foreign keys come with the constraints)."""
    inspector = sa.inspect(op.get_bind())
    for table in meta.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:
                default = column.server_default
                op.add_column(
                    table.name, sa.Column(column.name, column.type, nullable=column.nullable, server_default=default)
                )


def _keep_first(table: str, partition: str, order: str, where: str = "1 = 1") -> None:
    """Delete every row but the first of each ``partition`` group, in ``order``."""
    op.execute(
        f"DELETE FROM {table} WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER "
        f"(PARTITION BY {partition} ORDER BY {order}) AS rn FROM {table} WHERE {where}) AS ranked WHERE rn > 1)"
    )


def _clean_v4_rows() -> None:
    """Make v4's rows satisfy the new keys and checks, merging duplicates without losing counts."""
    for child in (*CHILDREN, "training_history"):  # SQLite never enforced v4's foreign keys
        op.execute(f"DELETE FROM {child} WHERE user_id NOT IN (SELECT id FROM users)")
    op.execute("DELETE FROM promocode_usage WHERE promocode_id NOT IN (SELECT id FROM promocodes)")
    _keep_first("bot_sessions", "user_id, bot_name", "updated_at DESC, id DESC")
    _keep_first("user_badges", "user_id, badge_type, earned_in_bot", "earned_at, id")
    _keep_first("promocode_usage", "user_id, promocode_id", "used_at, id")
    # Of one provider payment recorded twice, keep the one that got furthest (a refund follows a completion).
    status = "CAST(status AS VARCHAR(32))"
    progress = f"CASE {status} WHEN 'REFUNDED' THEN 0 WHEN 'COMPLETED' THEN 1 WHEN 'FAILED' THEN 2 ELSE 3 END"
    _keep_first("payments", "provider, payment_id", f"{progress}, id", where="payment_id IS NOT NULL")
    _merge_free_trainings()
    op.execute(
        "UPDATE subscriptions SET kind = CASE WHEN CAST(subscription_type AS VARCHAR(32)) IN ('CREDITS', 'credits') "
        "THEN 'credits' ELSE 'time' END"
    )
    op.execute(
        "UPDATE subscriptions SET is_active = FALSE WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER "
        "(PARTITION BY user_id, kind ORDER BY created_at DESC, id DESC) AS rn FROM subscriptions WHERE is_active) "
        "AS ranked WHERE rn > 1)"
    )
    op.execute("UPDATE subscriptions SET credits_left = 0 WHERE credits_left < 0")
    op.execute("UPDATE promocodes SET max_uses = NULL WHERE max_uses = 0")  # v4 read 0 as unlimited
    op.execute("UPDATE promocodes SET max_uses = current_uses WHERE current_uses > max_uses")  # raced past it
    op.execute("UPDATE promocodes SET value = 0 WHERE value < 0")


def _merge_free_trainings() -> None:
    """One row per (user, source): the first row gets the sum of trainings left, the others go."""
    same = "FROM free_trainings AS f WHERE f.user_id = free_trainings.user_id AND f.source = free_trainings.source"
    op.execute("UPDATE free_trainings SET trainings_left = 0 WHERE trainings_left < 0")
    op.execute(
        f"UPDATE free_trainings SET trainings_left = (SELECT SUM(f.trainings_left) {same}), "
        f"updated_at = (SELECT MAX(f.updated_at) {same}) "
        "WHERE id IN (SELECT MIN(id) FROM free_trainings GROUP BY user_id, source HAVING COUNT(*) > 1)"
    )
    keepers = "SELECT MIN(id) FROM free_trainings GROUP BY user_id, source"
    op.execute(f"DELETE FROM free_trainings WHERE id NOT IN ({keepers})")


def _drop_legacy_table_if_empty(name: str) -> None:
    """The pre-v4 ``training_users`` table goes only if it holds nothing (hotstore never reads it)."""
    bind = op.get_bind()
    if sa.inspect(bind).has_table(name) and bind.execute(sa.text(f"SELECT COUNT(*) FROM {name}")).scalar() == 0:
        op.drop_table(name)


# ---------------------------------------------------------------- PostgreSQL: alter in place


def _drop_foreign_keys(meta: sa.MetaData) -> None:
    """v4's foreign keys (no ON DELETE) go first, so ids can widen; the new ones come last."""
    inspector = sa.inspect(op.get_bind())
    for table in meta.sorted_tables:
        for fk in inspector.get_foreign_keys(table.name):
            if fk["name"]:
                op.drop_constraint(fk["name"], table.name, type_="foreignkey")


def _using(name: str, old: sa.types.TypeEngine[object], new: sa.types.TypeEngine[object], compiled: str) -> str:
    if isinstance(new, sa.DateTime) and new.timezone and isinstance(old, sa.DateTime) and not old.timezone:
        return f"{name} AT TIME ZONE 'UTC'"  # v4 stored naive UTC
    return f"CAST({name} AS {compiled})"


def _alter_postgresql(meta: sa.MetaData) -> None:
    bind = op.get_bind()
    dialect = bind.dialect
    inspector = sa.inspect(bind)
    ddl = dialect.ddl_compiler(dialect, None)  # type: ignore[arg-type]  # only its column helpers are used
    quote = dialect.identifier_preparer.quote
    for table in meta.sorted_tables:
        old_types = {column["name"]: column["type"] for column in inspector.get_columns(table.name)}
        clauses = []
        for column in table.columns:
            name, compiled = quote(column.name), column.type.compile(dialect=dialect)
            old = old_types[column.name]
            if old.compile(dialect=dialect) != compiled:
                clauses.append(f"ALTER COLUMN {name} TYPE {compiled} USING {_using(name, old, column.type, compiled)}")
            default = ddl.get_column_default_string(column)
            if default is not None:
                clauses.append(f"ALTER COLUMN {name} SET DEFAULT {default}")
        op.execute(f"ALTER TABLE {table.name} {', '.join(clauses)}")
        pk_name = inspector.get_pk_constraint(table.name)["name"]
        if pk_name and pk_name != f"pk_{table.name}":
            op.execute(f"ALTER TABLE {table.name} RENAME CONSTRAINT {pk_name} TO pk_{table.name}")
        op.execute(f"ALTER SEQUENCE IF EXISTS {table.name}_id_seq AS BIGINT")
    for enum_type in ENUM_TYPES:
        op.execute(f"DROP TYPE IF EXISTS {enum_type}")
    _add_constraints_postgresql(meta)


def _add_constraints_postgresql(meta: sa.MetaData) -> None:
    inspector = sa.inspect(op.get_bind())
    for table in meta.sorted_tables:
        indexes = {index["name"] for index in inspector.get_indexes(table.name)}
        for constraint in table.constraints:
            if isinstance(constraint, sa.UniqueConstraint | sa.CheckConstraint | sa.ForeignKeyConstraint):
                op.execute(sa.schema.AddConstraint(constraint))
        for index in table.indexes:
            if index.name not in indexes:
                op.execute(sa.schema.CreateIndex(index))


# ---------------------------------------------------------------- SQLite: rebuild each table


def _rebuild_sqlite(meta: sa.MetaData) -> None:
    """Rename the v4 table away, create the frozen one, copy the rows over, drop the old one.

    ``legacy_alter_table`` keeps other tables' ``REFERENCES users`` pointing at the name ``users``.
    """
    op.execute("PRAGMA legacy_alter_table = ON")
    for table in meta.sorted_tables:
        old = f"_hs_v4_{table.name}"
        op.execute(f"ALTER TABLE {table.name} RENAME TO {old}")
        op.execute(sa.schema.CreateTable(table))
        columns = ", ".join(column.name for column in table.columns)
        values = ", ".join(
            "printf('%.2f', amount)" if column.name == "amount" else column.name for column in table.columns
        )
        op.execute(f"INSERT INTO {table.name} ({columns}) SELECT {values} FROM {old}")
        op.execute(f"DROP TABLE {old}")
        for index in table.indexes:
            op.execute(sa.schema.CreateIndex(index))
    op.execute("PRAGMA legacy_alter_table = OFF")
