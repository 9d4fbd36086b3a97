"""Board recheck of take-backs: rewrite the boards of users whose XP was taken back, with plain ``ZADD``.

``ZADD GT`` (the cluster's award write, the flush's repair) never lowers a board. After a take-back (a negative
award) a board can be left too high: two processes awarding one user on a cluster may deliver their board writes
out of order, and a flush that read the user just before the take-back raises the board again. So the award script
puts every take-back in its shard's recheck set (``keys.board_recheck(shard)``, member ``<bot>:<tg>``, score = the
time of the take-back), and this tick, for each member older than a grace period, does a stable write of the user's
boards (:func:`hotstore.writebehind.board_scores.write_stable`: plain ``ZADD`` of the hash's scores, repeated until
the versions did not move), then removes the member only if its score is unchanged (a newer take-back keeps it).

The grace (``BOARD_RECHECK_GRACE_MS``, at least twice the Redis timeout) lets the board writes of scripts that ran
before the take-back land first: a write sent after a script's reply reaches Redis within the client's timeout.
While the rebuild lease is held the tick waits: a rebuild's swap merges by MAX and could raise a board again after
the recheck (a board repair holds the same lease; the take-backs wait until it ends). A user no longer hot
(evicted, deleted) leaves the set: SQL holds their truth, and ``hotstore repair-boards`` compares boards with it::

    settled = await recheck_boards(redis, scripts, settings)
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import UTC, datetime

from hotstore.core import constants as c
from hotstore.core.cluster import RedisClient
from hotstore.core.keys import parse_session_member
from hotstore.core.scripts import BOARD_RECHECK_SETTLE, Scripts
from hotstore.core.settings import Settings
from hotstore.writebehind.board_scores import Outcome, write_stable
from persistence.clock import now_ms

log = logging.getLogger(__name__)

_CONCURRENT_USERS = 32


def grace_ms(settings: Settings) -> int:
    """How old a take-back must be before it is rechecked."""
    return max(c.BOARD_RECHECK_GRACE_MS, int(2 * settings.redis_timeout * 1000))


async def recheck_boards(redis: RedisClient, scripts: Scripts, settings: Settings, *, now: int | None = None,
                         grace: int | None = None, limit: int = c.BOARD_RECHECK_BATCH) -> int:
    """Rewrite the boards of every take-back older than ``grace`` ms (default :func:`grace_ms`) and settle it;
    returns the members settled. Does nothing while a board rebuild holds the rebuild lease."""
    keys = settings.keys
    if await redis.exists(keys.rebuild_lock):
        return 0
    bound = (now_ms() if now is None else now) - (grace_ms(settings) if grace is None else grace)
    shards = list(keys.all_shards())
    async with redis.pipeline(transaction=False) as pipe:
        for shard in shards:
            pipe.zrangebyscore(keys.board_recheck(shard), "-inf", bound, start=0, num=limit, withscores=True)
        found = await pipe.execute()
    by_user: dict[int, list[tuple[int, str, float]]] = defaultdict(list)
    for shard, members in zip(shards, found, strict=True):
        for raw, score in members:
            member = raw.decode() if isinstance(raw, bytes) else raw
            _, telegram_id = parse_session_member(member)
            by_user[telegram_id].append((shard, member, score))
    if not by_user:
        return 0
    today = datetime.now(UTC).date()
    settled: dict[int, list[object]] = defaultdict(list)
    users = list(by_user.items())
    for start in range(0, len(users), _CONCURRENT_USERS):
        part = users[start:start + _CONCURRENT_USERS]
        outcomes = await asyncio.gather(*(
            write_stable(redis, keys, telegram_id, sorted({parse_session_member(m)[0] for _, m, _ in entries}),
                         today=today, weeks=settings.weekly_board_weeks)
            for telegram_id, entries in part))
        for (_, entries), outcome in zip(part, outcomes, strict=True):
            if outcome is Outcome.UNSTABLE:
                continue  # still moving: the next tick tries again
            for shard, member, score in entries:
                settled[shard] += [member, int(score)]  # ms: an integer
    removed = await asyncio.gather(*(scripts.call(BOARD_RECHECK_SETTLE, [keys.board_recheck(shard)], args)
                                     for shard, args in settled.items()))
    return sum(int(n) for n in removed)
