"""The board scores the entities hold, and the two ways the write-behind writes them back to the boards.

Every board score is absolute and held by an entity (docs/design.md, "Leaderboards"): the global board's is the
user hash's ``xp``, a bot board's the session hash's ``xp``, a weekly board's the user's ``wx`` for the ISO week
``wk``. So a board can always be brought back in line from the entities:

- :func:`raise_boards`: ``ZADD GT`` of the scores a flush read (:func:`flushed_scores`). GT never lowers a board,
  so a stale read cannot undo a newer award; it repairs every lost award write within one flush interval.
- :func:`write_stable`: a plain ``ZADD`` of one user's scores read with their versions, repeated until the
  versions did not move between the read and a re-read after the write. Only a plain write lowers a board left
  too high by a take-back (:mod:`hotstore.writebehind.board_recheck`, :mod:`hotstore.writebehind.board_repair`).

Why a stable write converges: every award or take-back bumps the version of the user and of the session it
touches. When the re-read finds the versions read before the write, no script of this user ran between the read
and the re-read, so what was written was the truth at a moment after every earlier script; a script that runs
after the re-read sends its own board write after its script ran, hence after ours was applied, and that newer
write lands last (an award's GT write carries a higher total, a take-back's plain write its exact value). A board
write of a script that ran *before* the read can still be in flight; the recheck waits a grace period longer than
the Redis timeout before it looks at a take-back for that reason.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import Any

from redis.exceptions import RedisError

from hotstore.core import constants as c
from hotstore.core.cluster import RedisClient
from hotstore.core.errors import HotstoreError
from hotstore.core.keys import KeyScheme, board_member, parse_session_member
from hotstore.writebehind.episodes import Episode
from hotstore.writebehind.weekly_boards import is_expired

log = logging.getLogger(__name__)

STABLE_ATTEMPTS = 5  # reads of a user whose versions keep moving before the stable write gives up (retried later)

_refused = Episode("board repair of the flush: Redis refused the ZADD GT writes (the next flush tries again)")


@dataclass(frozen=True)
class BoardScore:
    """One member's absolute score on one board."""

    board: str
    member: str
    score: int


def _int(raw: bytes | str | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def _text(raw: bytes | str | None) -> str | None:
    if raw is None:
        return None
    return raw.decode() if isinstance(raw, bytes) else raw


def week_kept(week: str | None, today: date, weeks: int) -> bool:
    """True when ``week``'s board is one the retention keeps (never recreate a board the sweep deleted)."""
    return week is not None and not is_expired(week, today, weeks)


def user_scores(keys: KeyScheme, telegram_id: int, xp: int | None, week: str | None, week_xp: int | None, *,
                today: date, weeks: int) -> list[BoardScore]:
    """The global and (when kept) weekly board scores of a user."""
    member = board_member(telegram_id)
    scores = [] if xp is None else [BoardScore(keys.global_board, member, xp)]
    if week_xp is not None and week is not None and week_kept(week, today, weeks):
        scores.append(BoardScore(keys.weekly_board(week), member, week_xp))
    return scores


def flushed_scores(entity: str, keys: KeyScheme, members: Sequence[str], hashes: Sequence[Mapping[Any, Any]], *,
                   today: date, weeks: int) -> list[BoardScore]:
    """The positive board scores of the users or sessions a flush read (nothing for documents)."""
    scores: list[BoardScore] = []
    for member, fields in zip(members, hashes, strict=True):
        if not fields:
            continue
        if entity == "users":
            found = user_scores(keys, int(member), _int(fields.get(c.USER_XP.encode())),
                                _text(fields.get(c.USER_WEEK.encode())), _int(fields.get(c.USER_WEEK_XP.encode())),
                                today=today, weeks=weeks)
        elif entity == "sessions":
            bot_name, telegram_id = parse_session_member(member)
            xp = _int(fields.get(c.SESSION_XP.encode()))
            found = [] if xp is None else [BoardScore(keys.bot_board(bot_name), board_member(telegram_id), xp)]
        else:
            found = []
        scores.extend(score for score in found if score.score > 0)
    return scores


async def raise_boards(redis: RedisClient, scores: Iterable[BoardScore]) -> int:
    """``ZADD GT`` every score in one pipeline (on a cluster, one per node); returns the scores sent.

    Never raises: the scores are already saved in their entities and the next flush sends them again, so a
    refusal (a full Redis, a board node down) is logged once per episode and the flush goes on."""
    wanted = list(scores)
    if not wanted:
        return 0
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for score in wanted:
                pipe.zadd(score.board, {score.member: score.score}, gt=True)
            await pipe.execute()
    except (RedisError, HotstoreError, OSError) as exc:
        _refused.observe(True, f"{type(exc).__name__}: {exc}")
        return 0
    _refused.observe(False)
    return len(wanted)


class Outcome(Enum):
    """What :func:`write_stable` found."""

    WRITTEN = "written"  # the boards hold the user's scores as of a moment no script of theirs ran around
    GONE = "gone"  # neither the user nor those sessions are hot (evicted, deleted): nothing written
    UNSTABLE = "unstable"  # the versions kept moving: written, but try again later


_USER_FIELDS = (c.USER_XP, c.USER_WEEK, c.USER_WEEK_XP, c.VERSION)
_SESSION_FIELDS = (c.SESSION_XP, c.VERSION)


async def _read(redis: RedisClient, keys: KeyScheme, telegram_id: int, bots: Sequence[str]) -> list[Any]:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hmget(keys.user(telegram_id), list(_USER_FIELDS))
        for bot in bots:
            pipe.hmget(keys.session(bot, telegram_id), list(_SESSION_FIELDS))
        return list(await pipe.execute())


def _versions(read: list[Any]) -> list[bytes | None]:
    return [fields[-1] for fields in read]


async def write_stable(redis: RedisClient, keys: KeyScheme, telegram_id: int, bots: Sequence[str], *, today: date,
                       weeks: int, attempts: int = STABLE_ATTEMPTS) -> Outcome:
    """Write the user's global and weekly scores and the bot scores of ``bots`` with plain ``ZADD`` until the
    versions read before the write are still there after it (see the module docstring). A score of 0 or less
    only updates a member already on the board (``XX``): a board holds members who earned something.
    An entity that is not hot is skipped (SQL holds its truth): the user's boards without the user hash, a bot's
    board without its session hash; :attr:`Outcome.GONE` when none of them is hot."""
    member = board_member(telegram_id)
    read = await _read(redis, keys, telegram_id, bots)
    for _ in range(attempts):
        xp, week, week_xp, user_version = read[0]
        if all(version is None for version in _versions(read)):
            return Outcome.GONE
        scores = [] if user_version is None else user_scores(keys, telegram_id, _int(xp), _text(week),
                                                             _int(week_xp), today=today, weeks=weeks)
        for bot, (bot_xp, version) in zip(bots, read[1:], strict=True):
            value = _int(bot_xp)
            if version is not None and value is not None:
                scores.append(BoardScore(keys.bot_board(bot), member, value))
        async with redis.pipeline(transaction=False) as pipe:
            for score in scores:
                if score.score > 0:
                    pipe.zadd(score.board, {score.member: score.score})
                else:
                    pipe.zadd(score.board, {score.member: score.score}, xx=True)
            await pipe.execute()
        again = await _read(redis, keys, telegram_id, bots)
        if _versions(again) == _versions(read):
            return Outcome.WRITTEN
        read = again
    log.info("board scores of user %s kept moving over %d reads; rechecked later", telegram_id, attempts)
    return Outcome.UNSTABLE
