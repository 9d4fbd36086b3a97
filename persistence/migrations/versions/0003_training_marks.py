"""training marks: ``users.training_marks``, the training-history ids already counted in the user's counters.

``TrainingHistory.apply`` (record_training.lua) counts a history row in ``total_trainings``/``total_score``
once per id and remembers the applied ids in the user hash. The flush now writes those marks into the same
row as the counters, and the read-through loads them back, so re-applying a counted training after the hash
was evicted (or Redis lost) counts nothing. NULL: no training applied yet, or none since before this
revision (such rows' marks were only in Redis; a user still hot there gets them on the next flush).

One nullable column, added in place (batch mode on SQLite: ``ADD COLUMN``, no table rebuild).

Revision ID: 0003_training_marks
Revises: 0002_hotstore
Create Date: 2025-02-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0003_training_marks"
down_revision: str | Sequence[str] | None = "0002_hotstore"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DOC = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("training_marks", DOC, nullable=True))


def downgrade() -> None:
    # Not batch: on SQLite a batch drop rebuilds ``users``, and dropping the old table could cascade to its
    # children. SQLite ≥ 3.35 drops a column in place.
    op.drop_column("users", "training_marks")
