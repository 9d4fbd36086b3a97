"""Board repair: compare the global board, every bot board and the current week's board with the truth, and fix them.

The truth of a member's score is its entity: the Redis hash when the entity is hot (it may be newer than SQL),
else SQL (``users.total_xp``, ``bot_sessions.xp``, ``users.week_xp`` for ``users.week`` = that week). Two streams
per board, each in chunks of ``chunk``:

1. the board (``ZSCAN``): a member whose entity exists neither in Redis nor in SQL is **removed**; a member whose
   score differs from the truth is **fixed**;
2. SQL in keyset chunks (as the rebuild pages it), the rows with a positive score: a member missing from the board
   is **added** (hot values winning).

A hot entity is written with the stable write (:func:`hotstore.writebehind.board_scores.write_stable`: plain
``ZADD`` re-read until its versions did not move; it writes the user's other boards too). A cold one is written
from SQL, then looked at again: if it became hot meanwhile (a read-through and an award ran between the SQL read and
the write), the stable write follows, so an award is never undone by a value read before it. ``check_only``
reports without writing; a difference is confirmed by a second read before it counts, so a write racing the first
read is not reported. Entities created and not flushed yet are not in SQL: the flush's ``ZADD GT`` puts them on
their boards (:mod:`hotstore.writebehind.flush`).

``hotstore repair-boards [--check]`` runs it once; the workers run it every ``HOTSTORE_BOARD_REPAIR_INTERVAL``
seconds (default 3600, 0 = off) under the rebuild lease (:func:`repair_boards_if_due`)::

    report = await repair_boards(redis, engine, settings, check_only=True)
    print(report.differences, report.as_dict())
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core import constants as c
from hotstore.core.cluster import RedisClient
from hotstore.core.keys import KeyScheme, board_member, iso_week, telegram_id_of
from hotstore.core.settings import Settings
from hotstore.writebehind.board_scores import write_stable
from hotstore.writebehind.rebuild import boards_lost, rebuild_lease
from persistence.clock import now_ms
from persistence.models import BotSession, User

log = logging.getLogger(__name__)

_CONCURRENT_USERS = 32


@dataclass
class BoardCheck:
    """One board's counts: members compared, scores fixed, members added and removed (or, when only checking,
    found to need it)."""

    checked: int = 0
    fixed: int = 0
    added: int = 0
    removed: int = 0

    @property
    def differences(self) -> int:
        return self.fixed + self.added + self.removed


@dataclass
class BoardRepairReport:
    """What a repair found per board (``global``, ``bot:<name>``, ``week:<YYYY-Www>``)."""

    check_only: bool
    boards: dict[str, BoardCheck] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def differences(self) -> int:
        return sum(board.differences for board in self.boards.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "check_only": self.check_only,
            "differences": self.differences,
            "seconds": round(self.seconds, 3),
            "boards": {name: {"checked": b.checked, "fixed": b.fixed, "added": b.added, "removed": b.removed}
                       for name, b in self.boards.items()},
        }


class _Truth(NamedTuple):
    score: int | None  # None: the entity exists neither in Redis nor in SQL
    hot: bool
    known: bool = True  # False: cannot be judged now (the user's week moved past the board's while repairing)
    stable: bool = True  # a hot entity whose stable write covers this board (not: a user whose week is older)


_GONE = _Truth(None, hot=False)
_UNKNOWN = _Truth(None, hot=True, known=False)


@dataclass(frozen=True)
class _Target:
    """One board to repair: its label, key, and (bot board) bot or (weekly board) week."""

    label: str
    key: str
    bot: str | None = None
    week: str | None = None


def _int(raw: Any) -> int:
    return int(raw) if raw is not None else 0


class _Repair:
    def __init__(self, redis: RedisClient, engine: AsyncEngine, settings: Settings, *, check_only: bool,
                 chunk: int, today: date, renew: Callable[[], Awaitable[bool]]) -> None:
        self.redis = redis
        self.engine = engine
        self.keys: KeyScheme = settings.keys
        self.weeks = settings.weekly_board_weeks
        self.check_only = check_only
        self.chunk = chunk
        self.today = today
        self.renew = renew

    # -- the truth of a chunk of members ---------------------------------------------------------------------------
    async def truths(self, target: _Target, telegram_ids: Sequence[int]) -> dict[int, _Truth]:
        keys = self.keys
        async with self.redis.pipeline(transaction=False) as pipe:
            for tg in telegram_ids:
                if target.bot is not None:
                    pipe.hmget(keys.session(target.bot, tg), [c.SESSION_XP, c.VERSION])
                else:
                    pipe.hmget(keys.user(tg), [c.USER_XP, c.USER_WEEK, c.USER_WEEK_XP, c.VERSION])
            hot = await pipe.execute()
        truths: dict[int, _Truth] = {}
        cold: list[int] = []
        for tg, fields in zip(telegram_ids, hot, strict=True):
            if fields[-1] is None:
                cold.append(tg)
            elif target.week is None:
                truths[tg] = _Truth(_int(fields[0]), hot=True)
            else:
                week = fields[1].decode() if fields[1] is not None else None
                if week == target.week:
                    truths[tg] = _Truth(_int(fields[2]), hot=True)
                elif week is not None and week > target.week:
                    truths[tg] = _UNKNOWN
                else:
                    truths[tg] = _Truth(0, hot=True, stable=False)
        if cold:
            truths.update(await self.sql_truths(target, cold))
        return truths

    async def sql_truths(self, target: _Target, telegram_ids: list[int]) -> dict[int, _Truth]:
        query: Any  # two shapes: (telegram id, bot xp) or (telegram id, total xp, week, week xp)
        if target.bot is not None:
            query = (select(User.telegram_id, BotSession.xp).join(BotSession, BotSession.user_id == User.id)
                     .where(BotSession.bot_name == target.bot, User.telegram_id.in_(telegram_ids)))
        else:
            query = select(User.telegram_id, User.total_xp, User.week, User.week_xp).where(
                User.telegram_id.in_(telegram_ids))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        found: dict[int, _Truth] = {}
        for row in rows:
            if target.week is None:
                found[int(row[0])] = _Truth(_int(row[1]), hot=False)
            else:
                found[int(row[0])] = _Truth(_int(row[3]) if row[2] == target.week else 0, hot=False)
        return {tg: found.get(tg, _GONE) for tg in telegram_ids}

    # -- comparing and fixing --------------------------------------------------------------------------------------
    async def scores(self, board: str, telegram_ids: Sequence[int]) -> list[int | None]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for tg in telegram_ids:
                pipe.zscore(board, board_member(tg))
            found = await pipe.execute()
        return [None if score is None else int(score) for score in found]

    @staticmethod
    def differs(score: int | None, truth: _Truth) -> str | None:
        """``removed``/``fixed``/``added`` when the board's ``score`` (None: absent) is wrong, else None."""
        if not truth.known:
            return None
        if truth.score is None:
            return "removed" if score is not None else None
        if score is None:
            return "added" if truth.score > 0 else None
        return "fixed" if score != truth.score else None

    async def settle(self, target: _Target, check: BoardCheck, candidates: Sequence[int]) -> None:
        """Confirm the differences of ``candidates`` with a fresh read, count them, and (unless only checking)
        write them."""
        if not candidates:
            return
        truths = await self.truths(target, candidates)
        scores = await self.scores(target.key, candidates)
        hot: list[int] = []
        direct: dict[int, _Truth] = {}  # written from the value read: cold entities, users of an older week
        async with self.redis.pipeline(transaction=False) as pipe:
            for tg, score in zip(candidates, scores, strict=True):
                truth = truths[tg]
                kind = self.differs(score, truth)
                if kind is None:
                    continue
                setattr(check, kind, getattr(check, kind) + 1)
                if self.check_only:
                    continue
                if truth.hot and truth.stable:
                    hot.append(tg)
                    continue
                direct[tg] = truth
                if truth.score is None:
                    pipe.zrem(target.key, board_member(tg))
                else:
                    pipe.zadd(target.key, {board_member(tg): truth.score})
            if direct:
                await pipe.execute()
        if direct:  # changed since the read (loaded, awarded)? Then the hash is the truth, written stably after
            again = await self.truths(target, list(direct))
            hot += [tg for tg, truth in direct.items() if again[tg] != truth]
        await self.write_hot(target, hot)

    async def write_hot(self, target: _Target, telegram_ids: Sequence[int]) -> None:
        bots = [target.bot] if target.bot is not None else []
        for start in range(0, len(telegram_ids), _CONCURRENT_USERS):
            await asyncio.gather(*(write_stable(self.redis, self.keys, tg, bots, today=self.today, weeks=self.weeks)
                                   for tg in telegram_ids[start:start + _CONCURRENT_USERS]))

    # -- the two streams -------------------------------------------------------------------------------------------
    async def repair(self, target: _Target) -> BoardCheck:
        check = BoardCheck()
        members: list[int] = []
        async for member, _ in self.redis.zscan_iter(target.key, count=self.chunk):
            members.append(telegram_id_of(member))
            if len(members) >= self.chunk:
                await self.compare_board_chunk(target, check, members)
                members = []
        await self.compare_board_chunk(target, check, members)
        async for telegram_ids in self.sql_members(target):
            scores = await self.scores(target.key, telegram_ids)
            absent = [tg for tg, score in zip(telegram_ids, scores, strict=True) if score is None]
            check.checked += len(absent)
            truths = await self.truths(target, absent) if absent else {}
            await self.settle(target, check, [tg for tg in absent if self.differs(None, truths[tg]) is not None])
            await self.renew()
        return check

    async def compare_board_chunk(self, target: _Target, check: BoardCheck, telegram_ids: list[int]) -> None:
        if not telegram_ids:
            return
        check.checked += len(telegram_ids)
        truths = await self.truths(target, telegram_ids)
        scores = await self.scores(target.key, telegram_ids)
        await self.settle(target, check, [tg for tg, score in zip(telegram_ids, scores, strict=True)
                                          if self.differs(score, truths[tg]) is not None])
        await self.renew()

    async def sql_members(self, target: _Target) -> AsyncIterator[list[int]]:
        """Telegram ids of the entities with a positive score for ``target`` in SQL, in keyset chunks."""
        query: Select[int, int]
        if target.bot is not None:
            id_column = BotSession.id
            query = (select(BotSession.id, User.telegram_id).join(User, User.id == BotSession.user_id)
                     .where(BotSession.bot_name == target.bot, BotSession.xp > 0))
        elif target.week is not None:
            id_column = User.id
            query = select(User.id, User.telegram_id).where(User.week == target.week, User.week_xp > 0)
        else:
            id_column = User.id
            query = select(User.id, User.telegram_id).where(User.total_xp > 0)
        last_id = 0
        while True:
            stmt = query.where(id_column > last_id).order_by(id_column).limit(self.chunk)
            async with self.engine.connect() as conn:
                rows = (await conn.execute(stmt)).all()
            if not rows:
                return
            last_id = int(rows[-1][0])
            yield [int(row[1]) for row in rows]

    async def targets(self) -> list[_Target]:
        keys = self.keys
        async with self.engine.connect() as conn:
            bots = {str(name) for name in (await conn.execute(select(BotSession.bot_name).distinct())).scalars()}
        async for raw in self.redis.scan_iter(match=keys.bot_board_pattern, count=c.SWEEP_SCAN_COUNT):
            bot = keys.bot_board_bot(raw.decode() if isinstance(raw, bytes) else raw)
            if bot is not None:
                bots.add(bot)
        week = iso_week(self.today)
        return [
            _Target("global", keys.global_board),
            *(_Target(f"bot:{bot}", keys.bot_board(bot), bot=bot) for bot in sorted(bots)),
            _Target(f"week:{week}", keys.weekly_board(week), week=week),
        ]


async def _no_renew() -> bool:
    return True


async def repair_boards(redis: RedisClient, engine: AsyncEngine, settings: Settings, *, check_only: bool = False,
                        chunk: int = c.BOARD_REPAIR_CHUNK, today: date | None = None,
                        renew: Callable[[], Awaitable[bool]] | None = None) -> BoardRepairReport:
    """Compare every board with the truth and (unless ``check_only``) fix it; see the module docstring."""
    started = time.monotonic()
    repair = _Repair(redis, engine, settings, check_only=check_only, chunk=chunk,
                     today=today or datetime.now(UTC).date(), renew=renew or _no_renew)
    report = BoardRepairReport(check_only=check_only)
    for target in await repair.targets():
        report.boards[target.label] = await repair.repair(target)
    report.seconds = time.monotonic() - started
    if report.differences:
        log.log(logging.INFO if check_only else logging.WARNING, "board repair%s: %s",
                " (check only)" if check_only else "", {k: v for k, v in report.as_dict()["boards"].items()
                                                         if any(v[n] for n in ("fixed", "added", "removed"))})
    return report


class LeaseHeld(Exception):
    """Another worker holds the rebuild lease (a rebuild or a repair is running)."""


async def repair_boards_under_lease(redis: RedisClient, engine: AsyncEngine, settings: Settings, *,
                                    chunk: int = c.BOARD_REPAIR_CHUNK) -> BoardRepairReport:
    """:func:`repair_boards` under the rebuild lease (renewed after every chunk), then the repair marker set.
    Raises :class:`LeaseHeld` when another worker holds the lease."""
    keys = settings.keys
    async with rebuild_lease(redis, keys) as renew:
        if renew is None:
            raise LeaseHeld("a board rebuild or repair is running (the rebuild lease is held); try again later")
        report = await repair_boards(redis, engine, settings, chunk=chunk, renew=renew)
        await redis.set(keys.boards_repaired, now_ms())
    return report


async def repair_boards_if_due(redis: RedisClient, engine: AsyncEngine, settings: Settings, *,
                               chunk: int = c.BOARD_REPAIR_CHUNK) -> BoardRepairReport | None:
    """The workers' repair: when ``settings.board_repair_interval`` (> 0) seconds passed since the last one (the
    marker ``keys.boards_repaired``), the boards are not lost (then the rebuild is due instead) and the rebuild
    lease is free. ``None`` when nothing ran."""
    interval = settings.board_repair_interval
    if interval <= 0:
        return None
    last = await redis.get(settings.keys.boards_repaired)
    if last is not None and now_ms() - int(last) < interval * 1000:
        return None
    if await boards_lost(redis, settings.keys):
        return None
    try:
        return await repair_boards_under_lease(redis, engine, settings, chunk=chunk)
    except LeaseHeld:
        return None
