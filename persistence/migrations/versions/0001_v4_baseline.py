"""v4 baseline: the schema the v4 module's ``create_all`` made.

An empty database passes through it on the way to hotstore's schema, so a fresh install and an upgraded
v4 install take the same path. ``persistence.migrate`` stamps an existing v4 database at this revision.

Revision ID: 0001_v4_baseline
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_v4_baseline"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _pk(table: str) -> sa.PrimaryKeyConstraint:
    # PostgreSQL's own names, as v4 got them (v4 had no naming convention).
    return sa.PrimaryKeyConstraint("id", name=f"{table}_pkey")


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=f"{table}_user_id_fkey")


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), autoincrement=True, nullable=False)


def _user_id() -> sa.Column[int]:
    return sa.Column("user_id", sa.Integer(), nullable=False)


def _stamp(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(), nullable=nullable)


def _enum(name: str, *members: str) -> sa.Enum:
    # v4 used Enum(PyEnum): a native PostgreSQL type holding member NAMES, a plain VARCHAR on SQLite.
    return sa.Enum(*members, name=name)


def upgrade() -> None:
    op.create_table(
        "users",
        _id(),
        sa.Column("telegram_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(255)),
        sa.Column("first_name", sa.String(255)),
        sa.Column("last_name", sa.String(255)),
        _stamp("registration_date"),
        _stamp("last_activity"),
        sa.Column("total_xp", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("total_trainings", sa.Integer(), nullable=False),
        sa.Column("total_score", sa.Integer(), nullable=False),
        _pk("users"),
    )
    op.create_index("ix_users_telegram_id", "users", ["telegram_id"], unique=True)
    op.create_table(
        "user_badges",
        _id(),
        _user_id(),
        sa.Column("badge_type", sa.String(100), nullable=False),
        sa.Column("earned_in_bot", sa.String(50), nullable=False),
        _stamp("earned_at"),
        sa.Column("badge_metadata", sa.JSON()),
        _pk("user_badges"),
        _user_fk("user_badges"),
    )
    op.create_index("ix_user_badges_badge_type", "user_badges", ["badge_type"])
    op.create_table(
        "bot_sessions",
        _id(),
        _user_id(),
        sa.Column("bot_name", sa.String(50), nullable=False),
        sa.Column("session_data", sa.JSON(), nullable=False),
        sa.Column("stats_data", sa.JSON(), nullable=False),
        _stamp("created_at"),
        _stamp("updated_at"),
        _pk("bot_sessions"),
        _user_fk("bot_sessions"),
    )
    op.create_index("ix_bot_sessions_bot_name", "bot_sessions", ["bot_name"])
    _create_durable_tables()
    _create_history_tables()


def _create_durable_tables() -> None:
    op.create_table(
        "subscriptions",
        _id(),
        _user_id(),
        sa.Column("subscription_type", _enum("subscriptiontype", "MONTH", "YEAR", "CREDITS"), nullable=False),
        _stamp("start_date"),
        _stamp("end_date", nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("auto_renew", sa.Boolean(), nullable=False),
        sa.Column("credits_total", sa.Integer()),
        sa.Column("credits_left", sa.Integer()),
        _stamp("created_at"),
        _stamp("updated_at"),
        _pk("subscriptions"),
        _user_fk("subscriptions"),
    )
    status = _enum("paymentstatus", "PENDING", "COMPLETED", "FAILED", "REFUNDED")
    op.create_table(
        "payments",
        _id(),
        _user_id(),
        sa.Column("amount", sa.Numeric(10, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("provider", sa.String(50), nullable=False),
        sa.Column("payment_id", sa.String(255)),
        sa.Column("status", status, nullable=False),
        sa.Column("tariff", sa.String(50), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("payment_metadata", sa.Text()),
        _stamp("created_at"),
        _stamp("updated_at"),
        _pk("payments"),
        _user_fk("payments"),
    )
    op.create_table(
        "promocodes",
        _id(),
        sa.Column("code", sa.String(50), nullable=False),
        sa.Column("type", sa.String(50), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("max_uses", sa.Integer()),
        sa.Column("current_uses", sa.Integer(), nullable=False),
        _stamp("expires_at", nullable=True),
        _stamp("created_at"),
        _pk("promocodes"),
    )
    op.create_index("ix_promocodes_code", "promocodes", ["code"], unique=True)
    op.create_table(
        "promocode_usage",
        _id(),
        _user_id(),
        sa.Column("promocode_id", sa.Integer(), nullable=False),
        _stamp("used_at"),
        _pk("promocode_usage"),
        _user_fk("promocode_usage"),
        sa.ForeignKeyConstraint(["promocode_id"], ["promocodes.id"], name="promocode_usage_promocode_id_fkey"),
    )
    source = _enum("freetrainingsource", "CHANNEL", "PROMOCODE", "ADMIN")
    op.create_table(
        "free_trainings",
        _id(),
        _user_id(),
        sa.Column("trainings_left", sa.Integer(), nullable=False),
        sa.Column("source", source, nullable=False),
        _stamp("created_at"),
        _stamp("updated_at"),
        _pk("free_trainings"),
        _user_fk("free_trainings"),
    )


def _create_history_tables() -> None:
    op.create_table(
        "training_history",
        _id(),
        _user_id(),
        sa.Column("telegram_id", sa.Integer(), nullable=False),
        _stamp("training_date"),
        sa.Column("scenario_name", sa.String(255)),
        sa.Column("total_score", sa.Integer(), nullable=False),
        sa.Column("clarity_level", sa.Integer(), nullable=False),
        sa.Column("question_count", sa.Integer(), nullable=False),
        sa.Column("contextual_questions", sa.Integer(), nullable=False),
        sa.Column("per_type_counts", sa.JSON()),
        sa.Column("case_data", sa.JSON()),
        sa.Column("session_snapshot", sa.JSON()),
        _stamp("created_at"),
        _pk("training_history"),
        _user_fk("training_history"),
    )
    op.create_index("ix_training_history_telegram_id", "training_history", ["telegram_id"])
    op.create_index("ix_training_history_training_date", "training_history", ["training_date"])
    # Legacy table of the obsolete pre-v4 service; 0002 drops it when it is empty.
    op.create_table(
        "training_users",
        _id(),
        sa.Column("telegram_id", sa.Integer(), nullable=False),
        sa.Column("session_data", sa.JSON(), nullable=False),
        sa.Column("stats_data", sa.JSON(), nullable=False),
        _stamp("created_at"),
        _stamp("updated_at"),
        _pk("training_users"),
    )
    op.create_index("ix_training_users_telegram_id", "training_users", ["telegram_id"], unique=True)


def downgrade() -> None:
    for table in (
        "training_users",
        "training_history",
        "free_trainings",
        "promocode_usage",
        "promocodes",
        "payments",
        "subscriptions",
        "bot_sessions",
        "user_badges",
        "users",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        for enum_type in ("subscriptiontype", "paymentstatus", "freetrainingsource"):
            op.execute(f"DROP TYPE IF EXISTS {enum_type}")
