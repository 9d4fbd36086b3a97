"""What the read-only ``hotstore`` commands print: ``status``, ``leaderboard``, ``user``.

Hot state is read raw from Redis (no read-through from SQL, no TTL refresh, nothing written), durable state
straight from SQL, so inspecting a user never changes them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import desc, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hotstore.cli.output import dumps_json, print_renderable
from hotstore.cli.tables import leaderboard_view, user_view
from hotstore.core import constants as c
from hotstore.core.cluster import RedisClient
from hotstore.core.errors import InvalidInput
from hotstore.core.keys import board_member, session_member
from hotstore.core.leaderboard import Board, Leaderboards
from hotstore.core.redis_client import connect, reachable
from hotstore.core.redis_config import UNSAFE_POLICY_PREFIX, unsafe_policy_message
from hotstore.core.settings import Settings
from hotstore.core.state import SessionState, UserState
from persistence.engine import create_engine
from persistence.models import BotSession, FreeTraining, Payment, Subscription, TrainingHistory, User, UserBadge

HISTORY_SHOWN = 10
EMBEDDED_NOTE = "note: no REDIS_URL: reading the embedded in-process Redis, which is empty in a new process"

# ---------------------------------------------------------------- status


def _find(info: Mapping[str, Any], name: str) -> Any:
    """``info[name]``, or the value under ``name`` in a nested mapping (status reports may group fields)."""
    if name in info:
        return info[name]
    for value in info.values():
        if isinstance(value, Mapping) and name in value:
            return value[name]
    return None


def check_status(info: Mapping[str, Any], *, max_age: float, now: float | None = None) -> tuple[bool, str]:
    """Healthy when a worker flushed (a flush of 0 rows counts: it is the heartbeat) within ``max_age`` s, no
    row SQL refused is waiting (``refused_count``), and Redis's ``maxmemory-policy`` cannot evict unsaved data
    (``allkeys-*`` fails the check)."""
    now = time.time() if now is None else now
    redis = info.get("redis")
    policy = redis.get("maxmemory_policy") if isinstance(redis, Mapping) else None
    if isinstance(policy, str) and policy.startswith(UNSAFE_POLICY_PREFIX):
        return False, unsafe_policy_message(policy)
    refused = _find(info, "refused_count")
    if isinstance(refused, int) and refused > 0:
        first = (_find(info, "refused_rows") or [{}])[0]
        return False, f"{refused} rows refused by SQL, kept dirty (first: {first.get('key')}: {first.get('error')})"
    stamps = [_find(info, name) for name in ("heartbeat_at", c.METRIC_LAST_FLUSH_AT)]
    known = [float(stamp) / 1000 for stamp in stamps if isinstance(stamp, (int, float))]
    if not known:
        return False, "no worker has flushed yet"
    age = max(0.0, now - max(known))
    if age > max_age:
        return False, f"last flush {age:.0f}s ago (over {max_age:g}s)"
    return True, f"last flush {age:.1f}s ago"


# ---------------------------------------------------------------- leaderboard


def parse_board(spec: str, default_bot: str) -> Board:
    """``global``, ``bot``, ``bot:NAME``, ``week`` or ``week:YYYY-Www``."""
    kind, _, name = spec.partition(":")
    if kind == "global" and not name:
        return Board.global_()
    if kind == "bot":
        return Board.bot(name or default_bot)
    if kind == "week":
        return Board.week(name or None)
    raise InvalidInput(f"board must be global, bot[:NAME] or week[:YYYY-Www]: {spec!r}")


@asynccontextmanager
async def _redis(settings: Settings) -> Any:
    if settings.embedded_redis:
        print(EMBEDDED_NOTE, file=sys.stderr)
    client = connect(settings)
    try:
        async with reachable():
            await client.ping()
        yield client
    finally:
        await client.aclose()


async def show_leaderboard(settings: Settings, spec: str, *, limit: int, offset: int, as_json: bool = False) -> int:
    """Print one page of a board: rank, Telegram id, username (when the user is hot), score."""
    board = parse_board(spec, settings.bot_name)
    async with _redis(settings) as redis:
        entries = await Leaderboards(redis, settings.keys).page(board, limit=limit, offset=offset)
        async with reachable():
            names = await _usernames(redis, settings, [entry.telegram_id for entry in entries])
    title = board.kind if not board.name else f"{board.kind}:{board.name}"
    if as_json:
        rows = [{"rank": entry.rank, "telegram_id": entry.telegram_id, "username": name, "score": entry.score}
                for entry, name in zip(entries, names, strict=True)]
        print(dumps_json({"board": title, "namespace": settings.namespace, "offset": offset, "entries": rows},
                         sort_keys=False))
    else:
        heading = f"leaderboard {title} (namespace {settings.namespace}), ranks {offset + 1}–{offset + limit}"
        print_renderable(leaderboard_view(heading, entries, names))
    return 0


async def _usernames(redis: RedisClient, settings: Settings, telegram_ids: list[int]) -> list[str | None]:
    async with redis.pipeline(transaction=False) as pipe:
        for telegram_id in telegram_ids:
            pipe.hget(settings.keys.user(telegram_id), c.USER_USERNAME)
        names = await pipe.execute()
    return [name.decode() if name else None for name in names]


# ---------------------------------------------------------------- user


async def show_user(settings: Settings, telegram_id: int, *, as_json: bool) -> int:
    """Print everything about one user: the hot state in Redis and the durable state in SQL. 1 if unknown."""
    engine = create_engine(settings.database_url, **settings.engine_options())
    try:
        async with engine.connect() as conn:
            durable = await durable_user(conn, telegram_id)
    finally:
        await engine.dispose()
    bots = sorted({session["bot_name"] for session in durable.get("sessions", [])} | {settings.bot_name})
    async with _redis(settings) as redis, reachable():
        hot = await hot_user(redis, settings, telegram_id, bots)
    if as_json:
        print(dumps_json({"telegram_id": telegram_id, "hot": hot, "durable": durable}, sort_keys=False))
    else:
        print_renderable(user_view(telegram_id, hot, durable))
    if not hot["user"] and not durable.get("user"):
        print(f"hotstore user: no user with Telegram id {telegram_id}", file=sys.stderr)
        return 1
    return 0


async def hot_user(redis: RedisClient, settings: Settings, telegram_id: int, bots: list[str]) -> dict[str, Any]:
    """The user's hashes, dirty marks, TTLs and board positions in Redis (read-only)."""
    keys, member = settings.keys, board_member(telegram_id)
    async with redis.pipeline(transaction=False) as pipe:
        _queue_entity(pipe, keys.user(telegram_id), keys.user_dirty_set(telegram_id), str(telegram_id),
                      keys.global_board, member)
        for bot in bots:
            session_key = keys.session(bot, telegram_id)
            _queue_entity(pipe, session_key, keys.session_dirty_set(telegram_id), session_member(bot, telegram_id),
                          keys.bot_board(bot), member)
        replies = iter(await pipe.execute())
    fields, ttl, dirty, rank, score = (next(replies) for _ in range(5))
    user = _user_dict(UserState.from_hash(_fields(fields))) if fields else None
    result: dict[str, Any] = {"user": user, "global_board": _position(rank, score), "sessions": {}}
    if user:
        user.update(dirty=dirty is not None, ttl_s=_ttl(ttl))
    for bot in bots:
        fields, ttl, dirty, rank, score = (next(replies) for _ in range(5))
        if fields:
            state = SessionState.from_hashes(bot, {}, _fields(fields))
            result["sessions"][bot] = {"xp": state.xp, "version": state.version, "dirty": dirty is not None,
                                       "ttl_s": _ttl(ttl), "board": _position(rank, score),
                                       "session_data": state.session, "stats_data": state.stats}
    return result


def _queue_entity(pipe: Any, key: str, dirty_set: str, dirty_member: str, board: str, member: str) -> None:
    """Five replies: the hash, its PTTL, its dirty score, its board rank and board score."""
    pipe.hgetall(key)
    pipe.pttl(key)
    pipe.zscore(dirty_set, dirty_member)
    pipe.zrevrank(board, member)
    pipe.zscore(board, member)


def _fields(raw: Mapping[bytes, bytes]) -> dict[str, bytes]:
    return {name.decode(): value for name, value in raw.items()}


def _user_dict(user: UserState) -> dict[str, Any]:
    return {**user.to_dict(), "total_score": user.total_score, "version": user.version}


def _position(rank: int | None, score: float | None) -> dict[str, int] | None:
    return None if rank is None or score is None else {"rank": int(rank) + 1, "score": int(score)}


def _ttl(pttl: int) -> float | None:
    """Seconds to idle expiry; None when the key never expires (a dirty entity has no TTL)."""
    return None if pttl < 0 else round(pttl / 1000, 1)


async def durable_user(conn: AsyncConnection, telegram_id: int) -> dict[str, Any]:
    """The user's rows in SQL: user, sessions per bot, badges, access (subscriptions, free trainings), payments,
    recent trainings."""
    user = (await conn.execute(select(User.__table__).where(User.telegram_id == telegram_id))).mappings().first()
    if user is None:
        return {}
    uid = user["id"]

    async def rows(query: Any) -> list[dict[str, Any]]:
        return [dict(row) for row in (await conn.execute(query)).mappings()]

    sessions = await rows(select(BotSession.bot_name, BotSession.xp, BotSession.version, BotSession.updated_at,
                                 BotSession.session_data, BotSession.stats_data).where(BotSession.user_id == uid))
    badges = await rows(select(UserBadge.badge_type, UserBadge.earned_in_bot, UserBadge.earned_at)
                        .where(UserBadge.user_id == uid).order_by(UserBadge.earned_at))
    subscriptions = await rows(select(Subscription.subscription_type, Subscription.kind, Subscription.is_active,
                                      Subscription.start_date, Subscription.end_date, Subscription.credits_left)
                               .where(Subscription.user_id == uid).order_by(Subscription.start_date))
    free = await rows(select(FreeTraining.source, FreeTraining.trainings_left).where(FreeTraining.user_id == uid))
    payments = await rows(select(Payment.provider, Payment.payment_id, Payment.amount, Payment.currency,
                                 Payment.status, Payment.tariff, Payment.created_at)
                          .where(Payment.user_id == uid).order_by(Payment.created_at))
    history = await rows(select(TrainingHistory.training_date, TrainingHistory.bot_name,
                                TrainingHistory.scenario_name, TrainingHistory.total_score)
                         .where(TrainingHistory.user_id == uid)
                         .order_by(desc(TrainingHistory.training_date)).limit(HISTORY_SHOWN))
    return {"user": dict(user), "sessions": sessions, "badges": badges, "subscriptions": subscriptions,
            "free_trainings": free, "payments": payments, "recent_trainings": history}
