"""``DatabaseService``: v4's facade, served by the hot store (users, sessions, XP, boards) and SQL (the rest).

A v4 bot switches by changing one import::

    from hotstore.compat import DatabaseService      # was: from services.database_service import ...

    db = DatabaseService(bot_name="spin_bot")
    data = await db.get_user_session(123456, "ann", "Ann")   # {'user': {...}, 'session': {...}, 'stats': {...}}

Method names, parameters, dict keys and value types are v4's. Where v4 was wrong the
facade does it right; the README ("Differences from v4") lists every difference. Calls for an unknown user keep v4's
False/None/empty answers; malformed arguments raise :class:`hotstore.core.errors.InvalidInput` before any write.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotstore.compat import lifecycle as runtime
from hotstore.core.constants import LUA_EXACT_INT, MAX_XP_DELTA
from hotstore.core.defaults import default_session
from hotstore.core.errors import InvalidInput, NotFound
from hotstore.core.keys import check_bot_name
from hotstore.core.levels import LevelTable
from hotstore.core.profile import UNSET, ProfileArg
from hotstore.core.redis_client import reachable
from hotstore.core.settings import DEFAULT_BOT_NAME, ENV_BOT_NAME
from hotstore.core.store import BotStore, HotStore
from hotstore.core.validation import (
    check_document,
    check_int,
    check_optional_text,
    check_page,
    check_telegram_id,
    check_text,
)
from hotstore.durable.base import translated_errors
from hotstore.durable.history import record_training
from persistence.enums import FreeTrainingSource, SubscriptionType
from persistence.models import User
from persistence.repositories.badges import BadgeRepository
from persistence.repositories.history import TrainingHistoryRepository
from persistence.repositories.subscriptions import SubscriptionRepository
from persistence.types import INT32_MAX

_NO_LEVEL_UP = {"leveled_up": False, "old_level": 1, "new_level": 1, "total_xp": 0}


def _name(value: str | None) -> ProfileArg:
    # v4 overwrote a stored name only with a new non-empty value: None and "" leave it as it is.
    return value if value else UNSET


def scenario_session(scenario_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The session a training restarts from: v4's adapter reset (what its bots did when a training restarted).

    ``chat_state`` is ``waiting_start`` and ``per_type_counts`` has one 0 per question type of the
    scenario. Question ids come from ``question_types`` (ids, or dicts with ``id``), else from the keys of
    ``scoring.question_weights`` (without ``contextual_bonus``). ``None`` gives v4's static default.
    """
    session = default_session()
    if scenario_config is None:
        return session
    if not isinstance(scenario_config, Mapping):
        raise InvalidInput(f"scenario_config must be a dict or None, not {type(scenario_config).__name__}")
    session["chat_state"] = "waiting_start"
    session["per_type_counts"] = {qid: 0 for qid in _question_ids(scenario_config)}
    return session


def _section(config: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """``config[name]`` as a mapping (absent or empty → ``{}``); anything else is a malformed scenario."""
    value = config.get(name) or {}
    if not isinstance(value, Mapping):
        raise InvalidInput(f"scenario_config[{name!r}] must be a dict, not {type(value).__name__}")
    return value


def _question_ids(config: Mapping[str, Any]) -> list[str]:
    types = config.get("question_types")
    if isinstance(types, Mapping):
        return [str(qid) for qid in types]
    if isinstance(types, Sequence) and not isinstance(types, str):
        return [str(t.get("id")) if isinstance(t, Mapping) else str(t) for t in types]
    weights = _section(config, "scoring").get("question_weights") or {}
    if not isinstance(weights, Mapping):
        raise InvalidInput(f"scenario_config['scoring']['question_weights'] must be a dict: {weights!r}")
    return [str(qid) for qid in weights if qid != "contextual_bonus"]


def scenario_levels(scenario_config: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """``scenario_config['ranking']['levels']`` (v4's levels config), or ``[]``."""
    if not scenario_config:
        return []
    if not isinstance(scenario_config, Mapping):
        raise InvalidInput(f"scenario_config must be a dict or None, not {type(scenario_config).__name__}")
    levels = _section(scenario_config, "ranking").get("levels") or []
    LevelTable.from_config(levels)  # malformed levels are refused here, before anything is written
    return list(levels)


class DatabaseService:
    """v4's high-level API for one bot (``bot_name`` None → env ``BOT_NAME`` → ``"spin_bot"``)."""

    _handle: BotStore | None = None  # this bot on the store last used, kept between calls (a new store: a new one)

    def __init__(self, bot_name: str | None = None) -> None:
        self.bot_name = check_bot_name(bot_name or os.environ.get(ENV_BOT_NAME) or DEFAULT_BOT_NAME)

    async def _store(self) -> HotStore:
        return await runtime.get_store()

    async def _bot(self) -> BotStore:
        store = await self._store()
        handle = self._handle
        if handle is None or handle.store is not store or handle.name != self.bot_name:
            handle = self._handle = store.bot(self.bot_name)
        return handle

    @asynccontextmanager
    async def _sql(self) -> AsyncIterator[AsyncSession]:
        store = await self._store()
        async with translated_errors(), AsyncSession(store.engine, expire_on_commit=False) as session, \
                session.begin():
            yield session

    # ------------------------------------------------------------------ sessions

    async def get_user_session(
        self, telegram_id: int, username: str | None = None, first_name: str | None = None
    ) -> dict[str, Any]:
        """``{'user': User.to_dict(), 'session': {...}, 'stats': {...}}``; creates user and session if absent."""
        bot = await self._bot()
        state = await bot.get_session(telegram_id, username=_name(username), first_name=_name(first_name))
        return {"user": state.user.to_dict(), "session": state.session, "stats": state.stats}

    async def save_session(
        self, telegram_id: int, session_data: dict[str, Any], stats_data: dict[str, Any] | None = None
    ) -> bool:
        """Replace this bot's session (and stats, unless None) whole. True; creates them if absent (v4: False)."""
        await (await self._bot()).save_session(telegram_id, session_data, stats_data)
        return True

    async def reset_session(self, telegram_id: int, scenario_config: dict[str, Any] | None = None) -> bool:
        """Restart the session from the scenario's start (see :func:`scenario_session`); stats are kept.

        False if the user has no session in this bot (nothing is created).
        """
        session = scenario_session(scenario_config)
        return await (await self._bot()).reset_session(telegram_id, session_data=session, keep_stats=True)

    # ------------------------------------------------------------------ XP, users, boards

    async def add_xp_and_check_level_up(
        self, telegram_id: int, xp_to_add: int, levels_config: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """Add XP atomically: ``{leveled_up, old_level, new_level, total_xp}``; v4's zeros for an unknown user."""
        check_telegram_id(telegram_id)
        check_int("xp_to_add", xp_to_add, low=-MAX_XP_DELTA, high=MAX_XP_DELTA)
        LevelTable.from_config(levels_config)  # checked even for an unknown user: malformed is InvalidInput
        bot = await self._bot()
        try:  # one round trip when warm; an unknown user is not created (v4's zeros)
            return (await bot.add_xp(telegram_id, xp_to_add, levels=levels_config, create=False)).to_dict()
        except NotFound:
            return dict(_NO_LEVEL_UP)

    async def update_user_stats_after_training(
        self,
        telegram_id: int,
        session_score: int,
        scenario_config: dict[str, Any] | None = None,
        *,
        award_xp: bool = False,
    ) -> dict[str, Any]:
        """After a training: ``total_trainings + 1`` and ``total_score + session_score``, atomically, once.

        v4 also added ``session_score`` as XP here, on top of the ``add_xp_and_check_level_up`` its bot flow
        had already called: XP doubled. XP is now added only with ``award_xp=True`` (levels from
        ``scenario_config['ranking']['levels']``). Returns the level dict; v4's zeros for an unknown user.
        """
        check_telegram_id(telegram_id)
        check_int("session_score", session_score, low=-LUA_EXACT_INT, high=LUA_EXACT_INT)
        if not isinstance(award_xp, bool):
            raise InvalidInput(f"award_xp must be a bool: {award_xp!r}")
        levels = scenario_levels(scenario_config)
        store = await self._store()
        if not await self._add_training_counters(store, telegram_id, session_score):
            return dict(_NO_LEVEL_UP)
        if award_xp:
            return (await store.bot(self.bot_name).add_xp(telegram_id, session_score, levels=levels)).to_dict()
        user = await store.get_user(telegram_id)
        assert user is not None
        return {"leveled_up": False, "old_level": user.level, "new_level": user.level, "total_xp": user.total_xp}

    async def _add_training_counters(self, store: HotStore, telegram_id: int, score: int) -> bool:
        # history id 0: v4 counts every call (its training-history rows are saved separately)
        return await record_training(store, telegram_id, 0, score) is not None

    async def get_user_info(self, telegram_id: int) -> dict[str, Any] | None:
        """``User.to_dict()`` or None; never creates."""
        user = await (await self._store()).get_user(telegram_id)
        return None if user is None else user.to_dict()

    async def ensure_user_exists(
        self,
        telegram_id: int,
        username: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
    ) -> bool:
        """Create the user if absent (names set as v4's get_or_create does). Always True."""
        store = await self._store()
        await store.ensure_user(
            telegram_id, username=_name(username), first_name=_name(first_name), last_name=_name(last_name)
        )
        return True

    async def get_leaderboard(self, limit: int = 10, offset: int = 0) -> list[dict[str, Any]]:
        """Users by total XP, best first, as ``User.to_dict()``; equal XP ordered by Telegram id."""
        limit, offset = check_page(limit, offset)
        store = await self._store()
        entries = await store.leaderboards.page(None, limit=limit, offset=offset)
        users = [await store.get_user(entry.telegram_id) for entry in entries]
        return [user.to_dict() for user in users if user is not None]

    async def get_user_rank(self, telegram_id: int) -> int | None:
        """v4's rank: 1 + the number of users with strictly more XP; None for an unknown user."""
        store = await self._store()
        user = await store.get_user(telegram_id)
        if user is None:
            return None
        rank = await store.leaderboards.competition_rank(telegram_id)
        if rank is not None:
            return rank
        async with reachable():  # not on the board yet (never got XP): count those above its XP
            above = await store.redis.zcount(store.keys.global_board, f"({user.total_xp}", "+inf")
        return int(above) + 1

    # ------------------------------------------------------------------ badges

    async def award_badge(self, telegram_id: int, badge_type: str, metadata: dict[str, Any] | None = None) -> bool:
        """Award a badge in this bot: True if new, False if already held here or the user is unknown."""
        check_telegram_id(telegram_id)
        check_text("badge_type", badge_type, max_length=100)
        metadata = None if metadata is None else check_document("metadata", metadata)
        async with self._sql() as session:
            user_id = await _user_id(session, telegram_id)
            if user_id is None:
                return False
            row = await BadgeRepository(session).award(user_id, badge_type, self.bot_name, metadata)
            return row is not None

    async def get_user_badges(self, telegram_id: int, all_bots: bool = True) -> list[dict[str, Any]]:
        """``[{badge_type, earned_in_bot, earned_at, metadata}]``, newest first; [] for an unknown user."""
        check_telegram_id(telegram_id)
        async with self._sql() as session:
            rows = await BadgeRepository(session).get_user_badges(telegram_id, None if all_bots else self.bot_name)
            return [row.to_dict() for row in rows]

    # ------------------------------------------------------------------ access

    async def check_access(self, telegram_id: int) -> dict[str, Any]:
        """``{has_access, access_type, details}`` as v4 (subscription, credits, then free trainings)."""
        check_telegram_id(telegram_id)
        async with self._sql() as session:
            return await SubscriptionRepository(session).check_access(telegram_id)

    async def consume_access(self, telegram_id: int) -> bool:
        """Spend one unit of access (a credit or a free training; a running time subscription costs nothing)."""
        check_telegram_id(telegram_id)
        async with self._sql() as session:
            return await SubscriptionRepository(session).consume_access(telegram_id)

    async def create_subscription(
        self,
        telegram_id: int,
        subscription_type: SubscriptionType,
        duration_days: int | None = None,
        credits: int | None = None,
    ) -> bool:
        """Grant (or extend) a subscription; False for an unknown user."""
        check_telegram_id(telegram_id)
        async with self._sql() as session:
            repo = SubscriptionRepository(session)
            row = await repo.create_subscription(telegram_id, subscription_type, duration_days, credits)
            return row is not None

    async def add_free_trainings(self, telegram_id: int, count: int, source: FreeTrainingSource) -> bool:
        """Add free trainings from ``source``; False for an unknown user."""
        check_telegram_id(telegram_id)
        async with self._sql() as session:
            return await SubscriptionRepository(session).add_free_trainings(telegram_id, count, source) is not None

    # ------------------------------------------------------------------ training history

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
    ) -> bool:
        """Record a finished training (no counters touched, as v4); False for an unknown user."""
        check_telegram_id(telegram_id)
        check_int("total_score", total_score, low=-INT32_MAX - 1, high=INT32_MAX)
        for name, count in (("clarity_level", clarity_level), ("question_count", question_count),
                            ("contextual_questions", contextual_questions)):
            check_int(name, count, low=0, high=INT32_MAX)
        check_optional_text("scenario_name", scenario_name)
        counts, case, snapshot = (
            None if doc is None else check_document(name, doc)
            for name, doc in (("per_type_counts", per_type_counts), ("case_data", case_data),
                              ("session_snapshot", session_snapshot))
        )
        async with self._sql() as session:
            user_id = await _user_id(session, telegram_id)
            if user_id is None:
                return False
            await TrainingHistoryRepository(session).add(
                user_id, telegram_id, total_score=total_score, clarity_level=clarity_level,
                question_count=question_count, contextual_questions=contextual_questions,
                per_type_counts=counts, case_data=case, session_snapshot=snapshot,
                scenario_name=scenario_name, bot_name=self.bot_name,
            )
            return True

    async def get_user_training_history(self, telegram_id: int, limit: int = 10) -> list[dict[str, Any]]:
        """The user's trainings, newest first (ties: latest recorded first), as v4's ``to_dict()``."""
        check_telegram_id(telegram_id)
        limit, _ = check_page(limit, 0)
        async with self._sql() as session:
            rows = await TrainingHistoryRepository(session).get_user_training_history(telegram_id, limit)
            return [row.to_dict() for row in rows]


async def _user_id(session: AsyncSession, telegram_id: int) -> int | None:
    user_id = (await session.execute(select(User.id).where(User.telegram_id == telegram_id))).scalar_one_or_none()
    return None if user_id is None else int(user_id)


__all__ = ["DatabaseService", "scenario_levels", "scenario_session"]
