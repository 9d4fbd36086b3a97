"""The demo's final check: after draining, SQL must hold exactly what Redis holds.

Compared, for every demo user: XP, level, counters and names (``users`` vs the user hash); for every
(bot, user): both documents and the bot XP (``bot_sessions`` vs the session hash); every bot document of the
bots (``bot_documents`` vs the document hashes still in Redis: state and data); and the global and per-bot
leaderboard scores against the SQL totals. Redis is read raw (no read-through, no TTL refresh).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from hotstore.core import constants as c
from hotstore.core.codec import decode_documents
from hotstore.core.keys import board_member, parse_document_member
from hotstore.core.state import SessionState, UserState
from persistence.models import BotDocument, BotSession, User

if TYPE_CHECKING:
    from hotstore.core.store import HotStore

CHUNK = 500
SHOWN_DIFFERENCES = 20
USER_FIELDS = ("total_xp", "level", "total_trainings", "total_score", "username", "first_name", "last_name")


@dataclass
class Verdict:
    """The outcome of the comparison."""

    users: int = 0
    sessions: int = 0
    documents: int = 0
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def render(self) -> str:
        """``VERDICT: OK — SQL equals Redis (…)`` or the list of differences."""
        documents = f", {self.documents} documents" if self.documents else ""
        checked = f"{self.users} users, {self.sessions} sessions{documents} checked"
        if self.ok:
            return f"VERDICT: OK — SQL equals Redis ({checked})"
        shown = self.differences[:SHOWN_DIFFERENCES]
        more = len(self.differences) - len(shown)
        lines = [f"VERDICT: FAILED — {len(self.differences)} differences between SQL and Redis ({checked})"]
        lines += [f"  {line}" for line in shown]
        if more:
            lines.append(f"  … and {more} more")
        return "\n".join(lines)


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


async def verify(store: HotStore, telegram_ids: Sequence[int], bot_names: Sequence[str]) -> Verdict:
    """Compare SQL with Redis for these users in these bots (call once nothing is dirty any more)."""
    sql_users, sql_sessions = await _read_sql(store, telegram_ids)
    verdict = Verdict()
    for chunk in _chunks(telegram_ids):
        redis_users, boards = await _read_redis_users(store, chunk, bot_names)
        for index, telegram_id in enumerate(chunk):
            row = sql_users.get(telegram_id)
            verdict.users += row is not None
            _compare_user(verdict, telegram_id, row, redis_users[index], boards[index][0])
        for bot_name in bot_names:
            hashes = await _read_redis_sessions(store, bot_name, chunk)
            for index, (telegram_id, fields) in enumerate(zip(chunk, hashes, strict=True)):
                session = sql_sessions.get((bot_name, telegram_id))
                verdict.sessions += session is not None
                _compare_session(verdict, bot_name, telegram_id, session, fields, boards[index][1][bot_name])
    await _compare_documents(store, bot_names, verdict)
    return verdict


async def _compare_documents(store: HotStore, bot_names: Sequence[str], verdict: Verdict) -> None:
    """Every bot document of ``bot_names`` in Redis against its SQL row (state and data)."""
    async with store.engine.connect() as conn:
        query = select(BotDocument.bot_name, BotDocument.doc_key, BotDocument.state, BotDocument.data)
        rows = {(bot, key): (state, data) for bot, key, state, data in
                await conn.execute(query.where(BotDocument.bot_name.in_(list(bot_names))))}
    found: dict[str, list[str]] = {bot_name: [] for bot_name in bot_names}
    async for raw in store.redis.scan_iter(match=store.keys.document_pattern, count=CHUNK):
        parsed = store.keys.parse_document(raw)
        if parsed is not None:
            bot_name, key = parse_document_member(parsed[1])
            if bot_name in found:
                found[bot_name].append(key)
    for bot_name in bot_names:
        keys = found[bot_name]
        async with store.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(store.keys.document(bot_name, key))
            hashes = await pipe.execute() if keys else []
        for key, fields in zip(keys, hashes, strict=True):
            if not fields or fields.get(c.VERSION.encode()) == b"0":
                continue  # gone meanwhile, or an empty document cached for a key never written
            verdict.documents += 1
            state = fields.get(c.DOCUMENT_STATE.encode())
            hot = (state.decode() if state is not None else None, decode_documents(fields)[0])
            if (bot_name, key) not in rows:
                verdict.differences.append(f"document {bot_name}/{key}: Redis only")
            elif rows[(bot_name, key)] != hot:
                sql = rows[(bot_name, key)]
                verdict.differences.append(f"document {bot_name}/{key}: SQL {sql!r} != Redis {hot!r}")


async def _read_sql(store: HotStore, telegram_ids: Sequence[int]) -> tuple[dict[int, User], dict[tuple[str, int], Any]]:
    users: dict[int, User] = {}
    sessions: dict[tuple[str, int], Any] = {}
    async with store.engine.connect() as conn:
        for chunk in _chunks(telegram_ids):
            rows = (await conn.execute(select(User.__table__).where(User.telegram_id.in_(chunk)))).mappings()
            found = {row["telegram_id"]: User(**row) for row in rows}
            users.update(found)
            by_id = {user.id: user.telegram_id for user in found.values()}
            query = select(BotSession.__table__).where(BotSession.user_id.in_(list(by_id)))
            for row in (await conn.execute(query)).mappings():
                sessions[(row["bot_name"], by_id[row["user_id"]])] = row
    return users, sessions


async def _read_redis_users(
    store: HotStore, chunk: Sequence[int], bot_names: Sequence[str]
) -> tuple[list[dict[str, bytes]], list[tuple[float | None, dict[str, float | None]]]]:
    """The user hashes, and each user's (global score, {bot: score}) on the boards."""
    keys = store.keys
    members = [board_member(telegram_id) for telegram_id in chunk]
    async with store.redis.pipeline(transaction=False) as pipe:
        for telegram_id in chunk:
            pipe.hgetall(keys.user(telegram_id))
        pipe.zmscore(keys.global_board, members)
        for bot_name in bot_names:
            pipe.zmscore(keys.bot_board(bot_name), members)
        replies = await pipe.execute()
    users = [{name.decode(): value for name, value in reply.items()} for reply in replies[: len(chunk)]]
    scores = replies[len(chunk) :]
    boards = [
        (scores[0][index], {name: scores[1 + b][index] for b, name in enumerate(bot_names)})
        for index in range(len(chunk))
    ]
    return users, boards


async def _read_redis_sessions(store: HotStore, bot_name: str, chunk: Sequence[int]) -> list[dict[str, bytes]]:
    async with store.redis.pipeline(transaction=False) as pipe:
        for telegram_id in chunk:
            pipe.hgetall(store.keys.session(bot_name, telegram_id))
        replies = await pipe.execute()
    return [{name.decode(): value for name, value in reply.items()} for reply in replies]


def _compare_user(verdict: Verdict, telegram_id: int, row: User | None, fields: dict[str, bytes],
                  score: float | None) -> None:
    if row is None or not fields:
        if row is not None or fields:
            where = "SQL only" if row is not None else "Redis only"
            verdict.differences.append(f"user {telegram_id}: {where}")
        return
    hot = UserState.from_hash(fields)
    for name in USER_FIELDS:
        sql_value, redis_value = getattr(row, name), getattr(hot, name)
        if sql_value != redis_value:
            verdict.differences.append(f"user {telegram_id} {name}: SQL {sql_value!r} != Redis {redis_value!r}")
    _compare_score(verdict, f"global board, user {telegram_id}", row.total_xp, score)


def _compare_session(verdict: Verdict, bot_name: str, telegram_id: int, row: Any, fields: dict[str, bytes],
                     score: float | None) -> None:
    what = f"session {bot_name}/{telegram_id}"
    if row is None or not fields:
        if row is not None or fields:
            verdict.differences.append(f"{what}: {'SQL only' if row is not None else 'Redis only'}")
        return
    hot = SessionState.from_hashes(bot_name, {}, fields)
    state = fields.get(c.DOCUMENT_STATE)
    pairs = (("session_data", row["session_data"], hot.session), ("stats_data", row["stats_data"], hot.stats),
             ("xp", row["xp"], hot.xp), ("fsm_state", row["fsm_state"], state.decode() if state is not None else None))
    for name, sql_value, redis_value in pairs:
        if sql_value != redis_value:
            verdict.differences.append(f"{what} {name}: SQL {sql_value!r} != Redis {redis_value!r}")
    _compare_score(verdict, f"bot board {bot_name}, user {telegram_id}", row["xp"], score)


def _compare_score(verdict: Verdict, what: str, sql_total: int, score: float | None) -> None:
    # A user who never earned XP is not on the board: that equals a total of 0.
    if (score or 0) != sql_total:
        verdict.differences.append(f"{what}: SQL {sql_total} != board score {score}")
