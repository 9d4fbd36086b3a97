"""bot documents: ``bot_documents`` (a bot's documents under string keys) and ``bot_sessions.fsm_state``.

hotstore becomes the one store of aiogram and python-telegram-bot bots. A user's
private-chat FSM state sits beside their session document in the new nullable ``bot_sessions.fsm_state``
(added in place: batch mode on SQLite is ``ADD COLUMN``, no table rebuild); every other piece of framework state
(group and topic FSM keys, other destinies, chat_data, bot_data, conversations, callback data) is a row of
``bot_documents``, unique per (bot, key), version-guarded like the other write-behind tables.

Revision ID: 0004_bot_documents
Revises: 0003_training_marks
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0004_bot_documents"
down_revision: str | Sequence[str] | None = "0003_training_marks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STAMP = sa.DateTime(timezone=True)
DOC = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("bot_sessions") as batch:
        batch.add_column(sa.Column("fsm_state", sa.Text(), nullable=True))
    op.create_table(
        "bot_documents",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("bot_name", sa.String(50), nullable=False),
        sa.Column("doc_key", sa.String(512), nullable=False),
        sa.Column("state", sa.Text(), nullable=True),
        sa.Column("data", DOC, nullable=False, server_default=sa.text("'{}'")),
        sa.Column("created_at", STAMP, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", STAMP, nullable=False, server_default=sa.func.now()),
        sa.Column("version", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.PrimaryKeyConstraint("id", name="pk_bot_documents"),
        sa.UniqueConstraint("bot_name", "doc_key", name="uq_bot_documents_bot_name_doc_key"),
    )


def downgrade() -> None:
    op.drop_table("bot_documents")
    op.drop_column("bot_sessions", "fsm_state")  # in place on SQLite >= 3.35, as 0003's downgrade
