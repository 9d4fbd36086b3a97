"""The cold path: concurrent read-throughs coalesced into one SQL transaction per batch, one load per key.

When many users are met cold at once (a rush of new users, a Redis restart), each call's MISS would cost its own
SQL transaction. :class:`ColdLoads` queues the loads that calls ask for in one event-loop turn and runs them
together::

    one transaction:  SELECT users.*, bot_sessions.* FROM users LEFT JOIN bot_sessions
                             ON bot_sessions.user_id = users.id AND bot_sessions.bot_name IN (…)
                             WHERE users.telegram_id IN (…)
                      and only when rows must be created (first contacts):
                      INSERT INTO users … VALUES (…), (…) ON CONFLICT (telegram_id) DO NOTHING
                      INSERT INTO bot_sessions … SELECT users.id, … WHERE telegram_id IN (…) ON CONFLICT DO NOTHING
                      the SELECT again

Batches: a load asked for while fewer than :data:`MAX_IN_FLIGHT` batches run starts one at the end of the loop
turn; loads asked for while that many run wait for one to end and then go together as the next batch (group
commit: the busier the SQL database, the larger the batches). One batch at a time measured fastest: with two,
batches halve and the transactions' fixed cost (BEGIN, COMMIT, statement round trips) doubles.

Single flight: a load asked for while the same load (same user, bot and ``create``) is queued or in flight waits
for that one instead of querying again. The loaded hashes go back to each caller's script, which writes them only
where the key is still absent (invariant 6), exactly as a load of its own would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy import LABEL_STYLE_TABLENAME_PLUS_COL, Table, and_, literal, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hotstore.core.defaults import default_session, default_stats
from hotstore.core.loader import HashFields, Profile, session_fields, transaction, user_fields
from persistence.models import BotSession, User
from persistence.upsert import insert_for

# bot name → (session_data, stats_data) that its new sessions start with
DocumentsFor = Callable[[str], tuple[dict[str, Any], dict[str, Any]]]


def _v4_documents(_bot: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return default_session(), default_stats()


MAX_BATCH = 500  # loads per transaction (bounded by the statements' parameter limits)
MAX_IN_FLIGHT = 1  # batches (transactions) running at once

_USERS: Table = User.__table__  # type: ignore[assignment]
_SESSIONS: Table = BotSession.__table__  # type: ignore[assignment]
_LoadKey = tuple[int, str | None, bool]  # telegram id, bot name (None: the user only), create
_Loaded = tuple[HashFields, HashFields | None] | None


@dataclass
class _Load:
    key: _LoadKey
    profile: Profile
    future: asyncio.Future[_Loaded] = field(repr=False)


class ColdLoads:
    """Read-through loads of one engine, batched per event-loop turn and single-flight per key."""

    def __init__(self, engine: AsyncEngine, *, max_batch: int = MAX_BATCH, max_in_flight: int = MAX_IN_FLIGHT,
                 documents_for: DocumentsFor | None = None) -> None:
        self.engine = engine
        self.documents_for: DocumentsFor = documents_for or _v4_documents
        self.max_batch = max(1, max_batch)
        self.max_in_flight = max(1, max_in_flight)
        self._queue: list[_Load] = []
        self._pending: dict[_LoadKey, asyncio.Future[_Loaded]] = {}  # queued or in flight
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0  # transactions run so far
        self.loads = 0  # loads asked for, single-flight waiters included

    async def user(self, telegram_id: int, *, create: bool, profile: Profile) -> HashFields | None:
        """The user's hash fields (the row inserted first when ``create``), or None if absent."""
        loaded = await self._load((telegram_id, None, create), profile)
        return loaded[0] if loaded is not None else None

    async def session(self, telegram_id: int, bot_name: str, *, create: bool,
                      profile: Profile) -> tuple[HashFields, HashFields] | None:
        """``(user fields, session fields)``; with ``create`` absent rows are inserted first (a new session gets
        v4's default documents). None if either row is absent and not created."""
        loaded = await self._load((telegram_id, bot_name, create), profile)
        if loaded is None or loaded[1] is None:
            return None
        return loaded[0], loaded[1]

    async def _load(self, key: _LoadKey, profile: Profile) -> _Loaded:
        self.loads += 1
        future = self._pending.get(key)
        if future is None:
            loop = asyncio.get_running_loop()
            future = self._pending[key] = loop.create_future()
            self._queue.append(_Load(key, profile, future))
            self._schedule()
        return await asyncio.shield(future)  # a cancelled caller does not cancel the others' load

    def _schedule(self) -> None:
        if not self._scheduled and len(self._tasks) < self.max_in_flight and self._queue:  # else a batch ending does
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._start)  # every load asked for in this turn joins

    def _start(self) -> None:
        self._scheduled = False
        queue, self._queue = self._queue, []
        for start in range(0, len(queue), self.max_batch):
            task = asyncio.get_running_loop().create_task(self._run(queue[start : start + self.max_batch]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[_Load]) -> None:
        try:
            results = await load_batch(self.engine, batch, self.documents_for)
        except BaseException as exc:
            for load in batch:
                self._settle(load, exc=exc)
            if not isinstance(exc, Exception):
                raise
            return
        finally:
            self._tasks.discard(asyncio.current_task())
            self._schedule()  # the loads that queued up meanwhile
        self.batches += 1
        for load, result in zip(batch, results, strict=True):
            self._settle(load, result=result)

    def _settle(self, load: _Load, *, result: _Loaded = None, exc: BaseException | None = None) -> None:
        self._pending.pop(load.key, None)
        if load.future.done():
            return
        if exc is not None:
            load.future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
        else:
            load.future.set_result(result)


async def load_batch(engine: AsyncEngine, batch: Sequence[_Load],
                     documents_for: DocumentsFor | None = None) -> list[_Loaded]:
    """Run the loads of ``batch`` in one transaction; the result of each, in order.

    Users and sessions already in SQL cost one SELECT; rows to create add one multi-row INSERT of users, one
    INSERT of sessions per bot (``INSERT … SELECT`` over the new users' ids) and one more SELECT.
    """
    async with transaction(engine) as conn:
        users, sessions = await _select(conn, batch)
        if await _create_missing(conn, batch, users, sessions, documents_for or _v4_documents):
            users, sessions = await _select(conn, batch)
    results: list[_Loaded] = []
    for tg, bot, _create in (load.key for load in batch):
        user = users.get(tg)
        session = sessions.get((tg, bot)) if bot is not None else None
        if user is None or (bot is not None and session is None):
            results.append(None)
        else:
            results.append((user_fields(user), session_fields(session) if session is not None else None))
    return results


async def _create_missing(conn: AsyncConnection, batch: Sequence[_Load], users: dict[int, User],
                          sessions: dict[tuple[int, str], BotSession], documents_for: DocumentsFor) -> bool:
    """Insert the users and sessions that loads with ``create`` need and SQL lacks (``ON CONFLICT DO NOTHING``:
    a row a concurrent transaction inserted first is kept). True when something was asked to be inserted."""
    new_users: dict[int, dict[str, Any]] = {}
    new_sessions: dict[str, set[int]] = {}  # bot → telegram ids
    for load in batch:
        tg, bot, create = load.key
        if not create:
            continue
        if tg not in users and tg not in new_users:
            profile = load.profile
            new_users[tg] = {"telegram_id": tg, "username": profile.username, "first_name": profile.first_name,
                             "last_name": profile.last_name}
        if bot is not None and (tg, bot) not in sessions:
            new_sessions.setdefault(bot, set()).add(tg)
    if new_users:
        insert = insert_for(conn.dialect.name, User).values(list(new_users.values()))
        await conn.execute(insert.on_conflict_do_nothing(index_elements=["telegram_id"]))
    for bot, telegram_ids in new_sessions.items():
        session_data, stats_data = documents_for(bot)  # v4's defaults, or the bot's own (set_session_defaults)
        rows = select(
            _USERS.c.id, literal(bot, _SESSIONS.c.bot_name.type),
            literal(session_data, _SESSIONS.c.session_data.type),
            literal(stats_data, _SESSIONS.c.stats_data.type),
        ).where(_USERS.c.telegram_id.in_(sorted(telegram_ids)))
        insert = insert_for(conn.dialect.name, BotSession).from_select(
            ["user_id", "bot_name", "session_data", "stats_data"], rows)
        await conn.execute(insert.on_conflict_do_nothing(index_elements=["user_id", "bot_name"]))
    return bool(new_users or new_sessions)


def _part(row: Row[Any], table: Table) -> dict[str, Any] | None:
    mapping = row._mapping
    values = {column.name: mapping[column] for column in table.columns}
    return values if values.get("id") is not None else None


def _as(kind: type[Any], values: dict[str, Any]) -> Any:
    """A plain object with a row's column attributes, read by ``user_fields``/``session_fields`` as the mapped
    class would be (no ORM instrumentation per attribute: this runs for every user of a cold batch)."""
    del kind  # documents the type it stands for
    return SimpleNamespace(**values)


async def _select(conn: AsyncConnection, batch: Sequence[_Load]) -> tuple[
        dict[int, User], dict[tuple[int, str], BotSession]]:
    """The users of the batch and their sessions in the batch's bots: one query."""
    telegram_ids = sorted({load.key[0] for load in batch})
    bots = sorted({load.key[1] for load in batch if load.key[1] is not None})
    joined = _USERS.outerjoin(_SESSIONS, and_(_SESSIONS.c.user_id == _USERS.c.id, _SESSIONS.c.bot_name.in_(bots)))
    query = (select(_USERS, _SESSIONS).select_from(joined).where(_USERS.c.telegram_id.in_(telegram_ids))
             .set_label_style(LABEL_STYLE_TABLENAME_PLUS_COL))
    users: dict[int, User] = {}
    sessions: dict[tuple[int, str], BotSession] = {}
    for row in (await conn.execute(query)).all():
        user = _part(row, _USERS)
        if user is None:
            continue
        users.setdefault(user["telegram_id"], _as(User, user))
        session = _part(row, _SESSIONS)
        if session is not None:
            sessions[(user["telegram_id"], session["bot_name"])] = _as(BotSession, session)
    return users, sessions
