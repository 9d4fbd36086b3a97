"""Training history: one row per finished training, listed newest first (ties broken by id).

Only the SQL row lives here. The user's counters (``total_trainings``, ``total_score``) are hot fields
kept in Redis; the training-history service updates them after this insert commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.models import TrainingHistory
from persistence.repositories.subscriptions import find_user_id
from persistence.types import INT32_MAX


def _check_int32(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not -INT32_MAX - 1 <= value <= INT32_MAX:
        raise ValueError(f"{name} must be an int within int32: {value!r}")
    return value


class TrainingHistoryRepository:
    """Training history rows. The caller owns the transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self,
        user_id: int,
        telegram_id: int,
        *,
        total_score: int,
        clarity_level: int = 0,
        question_count: int = 0,
        contextual_questions: int = 0,
        per_type_counts: dict[str, Any] | None = None,
        case_data: dict[str, Any] | None = None,
        session_snapshot: dict[str, Any] | None = None,
        scenario_name: str | None = None,
        bot_name: str | None = None,
        training_date: datetime | None = None,
    ) -> TrainingHistory:
        """Insert one row (``per_type_counts`` defaults to ``{}``, as v4) and return it with its id."""
        row = TrainingHistory(
            user_id=user_id,
            telegram_id=telegram_id,
            total_score=_check_int32("total_score", total_score),
            clarity_level=_check_int32("clarity_level", clarity_level),
            question_count=_check_int32("question_count", question_count),
            contextual_questions=_check_int32("contextual_questions", contextual_questions),
            per_type_counts=per_type_counts if per_type_counts is not None else {},
            case_data=case_data,
            session_snapshot=session_snapshot,
            scenario_name=scenario_name,
            bot_name=bot_name,
        )
        if training_date is not None:
            row.training_date = training_date
        self.session.add(row)
        await self.session.flush()
        return row

    async def save_training_history(
        self,
        telegram_id: int,
        total_score: int,
        clarity_level: int,
        question_count: int,
        contextual_questions: int,
        per_type_counts: dict[str, Any] | None = None,
        case_data: dict[str, Any] | None = None,
        session_snapshot: dict[str, Any] | None = None,
        scenario_name: str | None = None,
    ) -> TrainingHistory | None:
        """v4: insert the row, touching no counters; ``None`` for an unknown user."""
        user_id = await find_user_id(self.session, telegram_id)
        if user_id is None:
            return None
        return await self.add(
            user_id,
            telegram_id,
            total_score=total_score,
            clarity_level=clarity_level,
            question_count=question_count,
            contextual_questions=contextual_questions,
            per_type_counts=per_type_counts,
            case_data=case_data,
            session_snapshot=session_snapshot,
            scenario_name=scenario_name,
        )

    async def get_user_training_history(
        self, telegram_id: int, limit: int = 10, offset: int = 0
    ) -> list[TrainingHistory]:
        """The user's trainings, newest first, ties broken by id (newest id first)."""
        stmt = (
            select(TrainingHistory)
            .where(TrainingHistory.telegram_id == telegram_id)
            .order_by(TrainingHistory.training_date.desc(), TrainingHistory.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return list((await self.session.execute(stmt)).scalars().all())
