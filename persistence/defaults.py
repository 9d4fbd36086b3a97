"""v4's static default documents for a new bot session: the single source of these values.

They live in this lowest layer so that the SQL defaults and the hot store's defaults are one.
Each call returns a fresh deep copy, so a caller may mutate what it gets.
"""

from __future__ import annotations

import copy
from typing import Any

# v4's bot_sessions defaults, as of its 4.0 branch (with the feedback fields).
_DEFAULT_SESSION: dict[str, Any] = {
    "question_count": 0,
    "clarity_level": 0,
    "per_type_counts": {},
    "client_case": "",
    "case_data": None,
    "last_question_type": "",
    "chat_state": "new",
    "contextual_questions": 0,
    "last_client_response": "",
    "context_streak": 0,
    "feedback_in_progress": False,
    "last_feedback_ts": 0,
}

_DEFAULT_STATS: dict[str, Any] = {
    "total_trainings": 0,
    "total_questions": 0,
    "best_score": 0,
    "total_xp": 0,
    "current_level": 1,
    "achievements_unlocked": [],
    "level_up_notification": {"should_show": False, "old_level": 1, "new_level": 1},
    "maestro_streak": 0,
    "last_training_date": None,
    "recent_cases": [],
}


def default_session() -> dict[str, Any]:
    """A new copy of v4's default ``session_data`` (``chat_state`` ``"new"``)."""
    return copy.deepcopy(_DEFAULT_SESSION)


def default_stats() -> dict[str, Any]:
    """A new copy of v4's default ``stats_data``."""
    return copy.deepcopy(_DEFAULT_STATS)
