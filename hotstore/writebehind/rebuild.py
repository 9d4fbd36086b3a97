"""Leaderboard rebuild from SQL after Redis lost its boards.

When: the marker ``keys.boards_built`` is missing (Redis lost its data, or never had boards built) or the
global board is missing. Then the global board (``users.total_xp``), every bot board (``bot_sessions.xp`` joined
to ``users.telegram_id``) and the current ISO week's board (``users.week_xp`` of the users whose ``users.week`` is
that week) are rebuilt. Older weeks are not: SQL keeps only each user's latest week.

How, without losing concurrent hot increments: each board is built into a temporary key, chunk by chunk
(keyset pagination over SQL ids). For a user whose hash is still in Redis (possibly dirty, newer than SQL)
the chunk script takes the hot score over the SQL one (for the week: the hot ``wx`` when the hash's ``wk`` is
that week). The swap script then merges, by MAX, the
live board that hot awards may have recreated meanwhile (the hot path writes absolute totals there, so the
larger is the newer) and renames the result over the live key in one atomic step: readers never see a
half board. Only members with a positive score are added, as the hot path adds a member on its first award.

XP taken back (a negative award) while a rebuild runs may be undone on the board by the MAX merge; the
take-back waits in its shard's recheck set, and the recheck (which does not run while the rebuild holds its lease)
rewrites the board afterwards (:mod:`hotstore.writebehind.board_recheck`).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVarTuple

from sqlalchemy import Row, Select, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import InstrumentedAttribute

from hotstore.core import constants as c
from hotstore.core.cluster import RedisClient
from hotstore.core.keys import KeyScheme, board_member, iso_week
from hotstore.core.scripts import REBUILD_CHUNK, REBUILD_SWAP, Scripts
from hotstore.core.settings import Settings
from hotstore.writebehind import telemetry
from persistence.clock import now_ms
from persistence.models import BotSession, User

log = logging.getLogger(__name__)
_Cols = TypeVarTuple("_Cols")


@dataclass
class RebuildReport:
    """What a rebuild wrote: members per board key, and how long it took."""

    boards: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


async def boards_lost(redis: RedisClient, keys: KeyScheme) -> bool:
    """True when the boards must be rebuilt: no rebuild marker, or no global board."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.exists(keys.boards_built)
        pipe.exists(keys.global_board)
        marker, board = await pipe.execute()
    return not (marker and board)


@asynccontextmanager
async def rebuild_lease(redis: RedisClient, keys: KeyScheme) -> AsyncIterator[Callable[[], Awaitable[bool]] | None]:
    """Hold the rebuild lease (one board rebuild or repair per namespace at a time) for the block; yields the
    renew call to make after each chunk, or None when another worker holds it. Released at the end; a lease that
    ran out meanwhile is harmless (another worker may hold it now)."""
    lock = redis.lock(keys.rebuild_lock, timeout=c.REBUILD_LOCK_LEASE_MS / 1000, blocking=False)
    if not await lock.acquire():
        yield None
        return
    try:
        yield lock.reacquire
    finally:
        try:
            await lock.release()
        except Exception:
            log.debug("rebuild lock already expired")


async def rebuild_boards_if_lost(
    redis: RedisClient, engine: AsyncEngine, settings: Settings, *, chunk: int = c.REBUILD_CHUNK
) -> RebuildReport | None:
    """Rebuild every board when :func:`boards_lost`; ``None`` if nothing was lost or another worker is on it."""
    keys = settings.keys
    if not await boards_lost(redis, keys):
        return None
    async with rebuild_lease(redis, keys) as renew:
        if renew is None:
            return None
        report = await rebuild_boards(redis, engine, settings, chunk=chunk, renew=renew)
        await redis.set(keys.boards_built, now_ms())
    telemetry.count_rebuild()
    log.info("rebuilt %d leaderboards from SQL in %.1f s", len(report.boards), report.seconds)
    return report


async def _no_renew() -> bool:
    return True


async def rebuild_boards(
    redis: RedisClient,
    engine: AsyncEngine,
    settings: Settings,
    *,
    chunk: int = c.REBUILD_CHUNK,
    renew: Callable[[], Awaitable[bool]] | None = None,
) -> RebuildReport:
    """Rebuild the global board, every bot board and the current week's board from SQL, unconditionally (see
    the module docstring)."""
    started = time.monotonic()
    builder = _BoardBuilder(redis, settings.keys, renew or _no_renew)
    report = RebuildReport()
    report.boards.update(await builder.build_global(engine, chunk))
    report.boards.update(await builder.build_bots(engine, chunk))
    report.boards.update(await builder.build_week(engine, chunk, iso_week(datetime.now(UTC))))
    report.seconds = time.monotonic() - started
    return report


class _BoardBuilder:
    def __init__(self, redis: RedisClient, keys: KeyScheme, renew: Callable[[], Awaitable[bool]]) -> None:
        self.redis = redis
        self.keys = keys
        self.scripts = Scripts(redis)
        self.renew = renew
        self.token = secrets.token_hex(6)  # temporary keys unique to this rebuild

    async def build_global(self, engine: AsyncEngine, chunk: int) -> dict[str, int]:
        temp = self.keys.temp_board(self.keys.global_board, self.token)
        count = 0
        query = select(User.id, User.telegram_id, User.total_xp).where(User.total_xp > 0)
        async for rows in self._chunks(engine, query, User.id, chunk):
            count += await self._add(temp, ((self.keys.user(tg), tg, xp) for _, tg, xp in rows))
        await self._swap(temp, self.keys.global_board, count)
        return {self.keys.global_board: count}

    async def build_bots(self, engine: AsyncEngine, chunk: int) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        temps: dict[str, str] = {}
        query = (
            select(BotSession.id, BotSession.bot_name, User.telegram_id, BotSession.xp)
            .join(User, User.id == BotSession.user_id)
            .where(BotSession.xp > 0)
        )
        async for rows in self._chunks(engine, query, BotSession.id, chunk):
            by_bot: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
            for _, bot, tg, xp in rows:
                by_bot[bot].append((self.keys.session(bot, tg), tg, xp))
            for bot, members in by_bot.items():
                temp = temps.setdefault(bot, self.keys.temp_board(self.keys.bot_board(bot), self.token))
                counts[self.keys.bot_board(bot)] += await self._add(temp, members)
        for bot, temp in temps.items():
            await self._swap(temp, self.keys.bot_board(bot), counts[self.keys.bot_board(bot)])
        return dict(counts)

    async def build_week(self, engine: AsyncEngine, chunk: int, week: str) -> dict[str, int]:
        board = self.keys.weekly_board(week)
        temp = self.keys.temp_board(board, self.token)
        count = 0
        query = select(User.id, User.telegram_id, User.week_xp).where(User.week == week, User.week_xp > 0)
        async for rows in self._chunks(engine, query, User.id, chunk):
            count += await self._add(temp, ((self.keys.user(tg), tg, xp) for _, tg, xp in rows), week=week)
        await self._swap(temp, board, count)
        return {board: count}

    async def _swap(self, temp: str, live: str, written: int) -> None:
        """Put ``temp`` in place of ``live``; raises if Redis evicted part of it (volatile-*: it has a TTL), so the
        rebuild fails, its marker stays unset and the next check rebuilds again."""
        if int(await self.scripts.call(REBUILD_SWAP, [temp, live], [written])) < 0:
            raise RuntimeError(f"temporary board for {live} lost members while it was built (evicted?); will retry")

    async def _chunks(
        self, engine: AsyncEngine, query: Select[int, *_Cols], id_column: InstrumentedAttribute[int], chunk: int
    ) -> AsyncIterator[Sequence[Row[int, *_Cols]]]:
        """``query``'s rows, ``chunk`` at a time in ``id_column`` order (keyset pagination: ``id_column`` comes
        first in each row), one short SQL connection per chunk; the lease is renewed after each chunk is used."""
        last_id = 0
        while True:
            stmt = query.where(id_column > last_id).order_by(id_column).limit(chunk)
            async with engine.connect() as conn:
                rows = (await conn.execute(stmt)).all()
            if not rows:
                return
            last_id = rows[-1][0]
            yield rows
            await self.renew()

    async def _add(self, temp: str, members: Iterable[tuple[str, int, int]], *, week: str | None = None) -> int:
        """Add (hash key, telegram id, SQL score) triples to ``temp``, hot scores winning (``week``: the user
        hashes' ``wx`` when their ``wk`` is ``week``; else the hashes' ``xp``).

        A hash still in Redis (possibly dirty, i.e. newer than SQL) holds the truth for its member; the hashes are
        read in one pipeline (on a cluster, split per node), the chunk written in one script on the board's slot."""
        chunk = list(members)
        if not chunk:
            return 0
        async with self.redis.pipeline(transaction=False) as pipe:
            for hash_key, _, _ in chunk:
                if week is None:
                    pipe.hget(hash_key, c.USER_XP)  # users and sessions both keep XP in "xp"
                else:
                    pipe.hmget(hash_key, [c.USER_WEEK, c.USER_WEEK_XP])
            hot = await pipe.execute()
        args: list[object] = [c.TEMP_BOARD_TTL_MS]
        for (_, telegram_id, score), found in zip(chunk, hot, strict=True):
            if week is not None:
                hot_week, hot_xp = found
                found = hot_xp if hot_week is not None and hot_week.decode() == week else None
            args += [board_member(telegram_id), int(found) if found is not None else score]
        written = await self.scripts.call(REBUILD_CHUNK, [temp], args)
        return int(written)
