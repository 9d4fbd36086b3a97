"""weekly XP: ``users.week`` and ``users.week_xp``, the XP a user earned in one ISO week (all bots).

In the sharded layout every board score is an absolute value held by an entity, so a board can be brought back
in line from the entities (docs/design.md, "Sharded key layout"): the weekly board's score is the user's XP of
that week, kept in the user hash next to the total and flushed with it. A user evicted from Redis mid-week loads
it back, so their next award continues the week instead of restarting it. NULL week: nothing earned since this
revision.

Two columns added in place (batch mode on SQLite: ``ADD COLUMN``, no table rebuild).

Revision ID: 0005_week_xp
Revises: 0004_bot_documents
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_week_xp"
down_revision: str | Sequence[str] | None = "0004_bot_documents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("week", sa.String(10), nullable=True))
        batch.add_column(sa.Column("week_xp", sa.BigInteger(), nullable=False, server_default=sa.text("0")))


def downgrade() -> None:
    # Not batch (see 0003): SQLite >= 3.35 drops a column in place.
    op.drop_column("users", "week_xp")
    op.drop_column("users", "week")
