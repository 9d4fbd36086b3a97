"""Free trainings: one row per (user, source), incremented by upsert, consumed one at a time.

Consumption order: the oldest row first (``created_at``, then ``id``), so a bonus granted earlier is used
before a newer one. Each consume is a conditional ``UPDATE … WHERE trainings_left > 0 RETURNING``: a training
is never spent twice, whatever the concurrency.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.enums import FreeTrainingSource
from persistence.models import FreeTraining
from persistence.types import parse_enum
from persistence.upsert import dialect_of, insert_for

MAX_TRAININGS_PER_GRANT = 1_000_000
# RETURNING rows must overwrite any copy already in the session's identity map.
FRESH = {"populate_existing": True}
FRESH_UPDATE = {"populate_existing": True, "synchronize_session": False}


def check_count(name: str, value: object, *, high: int = MAX_TRAININGS_PER_GRANT) -> int:
    """A positive ``int`` (not ``bool``) up to ``high``; ``ValueError`` otherwise."""
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= high:
        raise ValueError(f"{name} must be an int between 1 and {high}: {value!r}")
    return value


class FreeTrainingRepository:
    """Free-training balances of users, by ``users.id``. The caller owns the transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, user_id: int, count: int, source: FreeTrainingSource | str) -> FreeTraining:
        """Add ``count`` trainings from ``source``: one row per (user, source), incremented atomically."""
        count = check_count("count", count)
        member = parse_enum(FreeTrainingSource, source)
        stmt = insert_for(dialect_of(self.session), FreeTraining).values(
            user_id=user_id, source=member, trainings_left=count
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["user_id", "source"],
            set_={
                "trainings_left": FreeTraining.trainings_left + stmt.excluded.trainings_left,
                "updated_at": func.now(),
            },
        ).returning(FreeTraining)
        row: FreeTraining = (await self.session.execute(stmt, execution_options=FRESH)).scalar_one()
        return row

    async def add_many(self, user_id: int, counts: Mapping[FreeTrainingSource | str, int]) -> list[FreeTraining]:
        """Add trainings from several sources in one transaction; every count is checked before any write."""
        checked = [(parse_enum(FreeTrainingSource, s), check_count("count", n)) for s, n in counts.items()]
        return [await self.add(user_id, n, s) for s, n in checked]

    async def next_row(self, user_id: int) -> FreeTraining | None:
        """The row :meth:`consume` would spend from: the oldest with trainings left."""
        stmt = (
            select(FreeTraining)
            .where(FreeTraining.user_id == user_id, FreeTraining.trainings_left > 0)
            .order_by(FreeTraining.created_at, FreeTraining.id)
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def total_left(self, user_id: int) -> int:
        stmt = select(func.coalesce(func.sum(FreeTraining.trainings_left), 0)).where(FreeTraining.user_id == user_id)
        return int((await self.session.execute(stmt)).scalar_one())

    async def consume(self, user_id: int) -> FreeTraining | None:
        """Spend one training, oldest row first; the updated row, or ``None`` if nothing is left."""
        ids_stmt = (
            select(FreeTraining.id)
            .where(FreeTraining.user_id == user_id, FreeTraining.trainings_left > 0)
            .order_by(FreeTraining.created_at, FreeTraining.id)
        )
        for row_id in (await self.session.execute(ids_stmt)).scalars().all():
            # The WHERE re-checks the balance: a concurrent consumer may have emptied this row meanwhile.
            stmt = (
                update(FreeTraining)
                .where(FreeTraining.id == row_id, FreeTraining.trainings_left > 0)
                .values(trainings_left=FreeTraining.trainings_left - 1, updated_at=func.now())
                .returning(FreeTraining)
            )
            row = (await self.session.execute(stmt, execution_options=FRESH_UPDATE)).scalar_one_or_none()
            if row is not None:
                return row
        return None
