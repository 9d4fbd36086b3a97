"""Training history: the SQL row, and the user's hot counters (``total_trainings``, ``total_score``).

A save is two steps: one SQL transaction inserts the history row (its id identifies the training), then
``record_training.lua`` adds it to the counters in the user's Redis hash, exactly once per history id, with
no XP (v4 added the score as XP a second time, so a bot that also called ``add_xp`` counted it twice). The
counters reach SQL through the write-behind flush, like every hot field.

Crash window: a process that dies after the SQL commit and before the script runs leaves the row saved and
the counters short by that one training. The window is one Redis round trip per save; it is bounded (a
crash loses at most the trainings being saved at that moment, never a flushed counter) and it is closed by
calling :meth:`TrainingHistory.apply` again with the row's id: the script counts an id only once, so
re-applying a row that did count is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hotstore.core import constants as c
from hotstore.core.errors import NotFound
from hotstore.core.keys import check_bot_name
from hotstore.core.scripts import RECORD_TRAINING
from hotstore.core.validation import check_document, check_int, check_optional_text, check_page, check_telegram_id
from hotstore.durable.base import DomainService
from hotstore.durable.records import TrainingRecord
from persistence.repositories.history import TrainingHistoryRepository
from persistence.types import INT32_MAX
from persistence.upsert import ensure_user_id

if TYPE_CHECKING:
    from hotstore.core.store import HotStore

def _check_score(total_score: object) -> int:
    """A training's score: an int within the ``training_history.total_score`` column (int32)."""
    return check_int("total_score", total_score, low=-INT32_MAX - 1, high=INT32_MAX)


@dataclass(frozen=True)
class TrainingRecorded:
    """A saved training: its history id, whether this call counted it, and the counters after it."""

    history_id: int
    applied: bool
    total_trainings: int
    total_score: int


async def record_training(store: HotStore, telegram_id: int, history_id: int, score: int) -> list[Any] | None:
    """Add one training to the user's hot counters (``record_training.lua``), reading the user through from SQL
    when absent. ``history_id`` 0 counts it unconditionally (no history row to remember). The script's reply,
    or None for an unknown user."""
    keys = store.keys
    args = [telegram_id, history_id, score, c.USER_LAST_TRAINING, c.USER_RECENT_TRAININGS, c.RECENT_TRAININGS_KEPT]
    load = store.user_loader(telegram_id, create=False)
    script_keys = [keys.user(telegram_id), keys.user_dirty_set(telegram_id)]
    return await store.run_script(RECORD_TRAINING, script_keys, args, load)


class TrainingHistory(DomainService):
    """``await TrainingHistory(store).save(42, total_score=180, question_count=9)``."""

    async def save(
        self,
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
    ) -> TrainingRecorded:
        """Insert the history row and count it in the user's counters (the user is created if absent)."""
        check_telegram_id(telegram_id)
        documents = {
            name: None if value is None else check_document(name, value)
            for name, value in (
                ("per_type_counts", per_type_counts),
                ("case_data", case_data),
                ("session_snapshot", session_snapshot),
            )
        }
        check_optional_text("scenario_name", scenario_name)
        _check_score(total_score)
        for name, count in (("clarity_level", clarity_level), ("question_count", question_count),
                            ("contextual_questions", contextual_questions)):
            check_int(name, count, low=0, high=INT32_MAX)
        bot = check_bot_name(self.store.settings.bot_name if bot_name is None else bot_name)
        async with self.transaction() as session:
            user_id = await ensure_user_id(session, telegram_id)
            row = await TrainingHistoryRepository(session).add(
                user_id,
                telegram_id,
                total_score=total_score,
                clarity_level=clarity_level,
                question_count=question_count,
                contextual_questions=contextual_questions,
                scenario_name=scenario_name,
                bot_name=bot,
                training_date=self.now(),
                **documents,
            )
        return await self.apply(telegram_id, row.id, total_score)

    async def apply(self, telegram_id: int, history_id: int, total_score: int) -> TrainingRecorded:
        """Count history row ``history_id`` in the user's hot counters, once however often it is called.

        If the user is not in Redis it is loaded from SQL first (read-through), then the script runs again.
        Arguments are checked before the script runs: a malformed one raises InvalidInput and writes nothing.
        """
        check_telegram_id(telegram_id)
        check_int("history_id", history_id, low=1, high=c.INT64_MAX)
        _check_score(total_score)
        reply = await record_training(self.store, telegram_id, history_id, total_score)
        if reply is None:
            raise NotFound(f"user {telegram_id} was deleted while their training was saved")
        return TrainingRecorded(history_id, bool(reply[1]), int(reply[2]), int(reply[3]))

    async def list(self, telegram_id: int, *, limit: int = 10, offset: int = 0) -> list[TrainingRecord]:
        """The user's trainings as :class:`~hotstore.durable.records.TrainingRecord`, newest first, ties by id."""
        check_telegram_id(telegram_id)
        limit, offset = check_page(limit, offset)
        async with self.transaction() as session:
            rows = await TrainingHistoryRepository(session).get_user_training_history(telegram_id, limit, offset)
            return [TrainingRecord.from_row(row) for row in rows]
