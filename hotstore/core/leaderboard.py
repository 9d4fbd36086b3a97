"""Leaderboards: Redis sorted sets of absolute scores the entities hold (docs/design.md, "Leaderboards").

Every award writes the user's total, bot XP and week XP as absolute board scores: on a single Redis inside the
award's own script, on a Redis Cluster (each board its own slot) by :func:`write_award_scores` right after it.
The write-behind repairs what that second write can miss: the flush's ``ZADD GT``, the take-back recheck and the
board repair (:mod:`hotstore.writebehind.board_scores`, ``board_recheck``, ``board_repair``).

Members are ``board_member(telegram_id)``, so equal scores order by Telegram id ascending everywhere and
ranks are ordinal (1, 2, 3 …); :meth:`Leaderboards.competition_rank` gives v4's rank (1 + strictly more)::

    top = await store.leaderboards.page(Board.bot("spin_bot"), limit=10)
    mine = await store.leaderboards.rank(42, Board.week())
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from redis.exceptions import RedisError

from hotstore.core.cluster import RedisClient, is_cluster
from hotstore.core.errors import HotstoreError, InvalidInput
from hotstore.core.keys import KeyScheme, board_member, check_bot_name, iso_week, telegram_id_of
from hotstore.core.redis_client import reachable
from hotstore.core.scripts import BOARD_AROUND, BOARD_COMPETITION_RANK, Scripts
from hotstore.core.validation import check_int, check_page, check_telegram_id

log = logging.getLogger(__name__)

_WEEK = re.compile(r"^\d{4}-W(0[1-9]|[1-4]\d|5[0-3])$")
_MAX_RADIUS = 100


@dataclass(frozen=True)
class Board:
    """Which board: ``Board.global_()``, ``Board.bot(name)`` or ``Board.week(day)``."""

    kind: str
    name: str = ""

    @classmethod
    def global_(cls) -> Board:
        """All bots, score = total XP."""
        return cls("global")

    @classmethod
    def bot(cls, bot_name: str) -> Board:
        """One bot, score = XP earned in that bot."""
        return cls("bot", check_bot_name(bot_name))

    @classmethod
    def week(cls, day: date | str | None = None) -> Board:
        """XP earned in the ISO week of ``day`` (a date, or ``'2026-W07'``; None → the current UTC week)."""
        if day is None:
            return cls("week", iso_week(datetime.now(UTC)))
        if isinstance(day, date):
            return cls("week", iso_week(day))
        if isinstance(day, str) and _WEEK.match(day):
            return cls("week", day)
        raise InvalidInput(f"week must be a date or 'YYYY-Www': {day!r}")

    def key(self, keys: KeyScheme) -> str:
        if self.kind == "global":
            return keys.global_board
        if self.kind == "bot":
            return keys.bot_board(check_bot_name(self.name))
        if self.kind == "week" and _WEEK.match(self.name):
            return keys.weekly_board(self.name)
        raise InvalidInput(f"not a board: {self!r}")


def award_board_keys(redis: RedisClient, keys: KeyScheme, bot_name: str, week: str) -> list[str]:
    """The board keys an award script writes itself: the global, bot and weekly boards on a single Redis (one
    node: a script may touch any key); none on a cluster, where :func:`write_award_scores` writes them."""
    if is_cluster(redis):
        return []
    return [keys.global_board, keys.bot_board(bot_name), keys.weekly_board(week)]


async def write_award_scores(redis: RedisClient, keys: KeyScheme, telegram_id: int, bot_name: str, week: str,
                             scores: tuple[int, int, int], *, taking_back: bool) -> bool:
    """Write an award's absolute ``(total, bot xp, week xp)`` to the three boards (a cluster: three slots, sent
    together). ``ZADD GT`` for an award, so boards written out of order (two awards of one user from two
    processes) keep the higher, newer total; a plain ``ZADD`` for a take-back. The XP is already saved: a failure
    here is logged and returns False (the write-behind brings the boards back in line from the entities)."""
    member = board_member(telegram_id)
    boards = (keys.global_board, keys.bot_board(bot_name), keys.weekly_board(week))
    try:
        await asyncio.gather(*(redis.zadd(board, {member: score}, gt=not taking_back)
                               for board, score in zip(boards, scores, strict=True)))
    except (RedisError, HotstoreError, OSError) as exc:
        log.warning("board scores of user %s not written (repaired from the entities later): %s", telegram_id, exc)
        return False
    return True


@dataclass(frozen=True)
class Entry:
    """One row of a board: 1-based ordinal rank, user, score."""

    rank: int
    telegram_id: int
    score: int


def _board(board: object) -> Board:
    if board is None:
        return Board.global_()
    if not isinstance(board, Board):
        raise InvalidInput(f"board must be a Board or None: {board!r}")
    return board


def _entries(first_rank: int, flat: list[Any]) -> list[Entry]:
    return [
        Entry(first_rank + i // 2, telegram_id_of(flat[i]), int(float(flat[i + 1])))
        for i in range(0, len(flat), 2)
    ]


class Leaderboards:
    """Reads of the boards of one namespace; every call is one round trip."""

    def __init__(self, redis: RedisClient, keys: KeyScheme, scripts: Scripts | None = None) -> None:
        self.redis = redis
        self.keys = keys
        self._scripts = scripts if scripts is not None else Scripts(redis)

    async def page(self, board: Board | None = None, *, limit: int = 10, offset: int = 0) -> list[Entry]:
        """``limit`` entries from ordinal position ``offset`` (0-based), best first."""
        key = _board(board).key(self.keys)
        limit, offset = check_page(limit, offset)
        async with reachable():
            flat = await self.redis.zrevrange(key, offset, offset + limit - 1, withscores=True)
        return [Entry(offset + i + 1, telegram_id_of(member), int(score)) for i, (member, score) in enumerate(flat)]

    async def rank(self, telegram_id: int, board: Board | None = None) -> int | None:
        """1-based ordinal rank (ties: lower Telegram id first); None if not on the board."""
        key, member = _board(board).key(self.keys), board_member(check_telegram_id(telegram_id))
        async with reachable():
            position = await self.redis.zrevrank(key, member)
        return None if position is None else int(position) + 1

    async def competition_rank(self, telegram_id: int, board: Board | None = None) -> int | None:
        """v4's rank: 1 + the number of users with strictly more; None if not on the board."""
        key, member = _board(board).key(self.keys), board_member(check_telegram_id(telegram_id))
        rank = await self._scripts.call(BOARD_COMPETITION_RANK, [key], [member])
        return None if rank is None else int(rank)

    async def around(self, telegram_id: int, board: Board | None = None, *, radius: int = 5) -> list[Entry]:
        """The user's entry with up to ``radius`` entries above and below; [] if not on the board."""
        key, member = _board(board).key(self.keys), board_member(check_telegram_id(telegram_id))
        radius = check_int("radius", radius, low=0, high=_MAX_RADIUS)
        reply = await self._scripts.call(BOARD_AROUND, [key], [member, radius])
        if not reply:
            return []
        return _entries(int(reply[0]) + 1, reply[1])

    async def count(self, board: Board | None = None) -> int:
        """Number of users on the board."""
        key = _board(board).key(self.keys)
        async with reachable():
            return int(await self.redis.zcard(key))

    async def score(self, telegram_id: int, board: Board | None = None) -> int | None:
        """The user's score on the board; None if not on it."""
        key, member = _board(board).key(self.keys), board_member(check_telegram_id(telegram_id))
        async with reachable():
            value = await self.redis.zscore(key, member)
        return None if value is None else int(value)
