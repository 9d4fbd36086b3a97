"""Retention of the weekly boards: the sweep deletes boards older than ``HOTSTORE_WEEKLY_BOARD_WEEKS`` weeks.

Weekly boards used to carry a TTL, renewed by every award. Under a ``volatile-*`` maxmemory-policy Redis may evict
any key with a TTL whenever it needs memory, so the current week's board could vanish; a board lives in Redis only,
it cannot be reloaded. Boards therefore have no TTL, and this job deletes the old ones: a board is kept while its
ISO week started at most ``weekly_board_weeks`` weeks before the current one (the weeks ``delete_user`` cleans).
A kept board that still has a TTL from an older version of hotstore loses it::

    deleted = await expire_old_weekly_boards(redis, settings)
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

from hotstore.core import constants as c
from hotstore.core.cluster import RedisClient
from hotstore.core.settings import Settings

log = logging.getLogger(__name__)


def week_start(name: str) -> date | None:
    """The Monday of ISO week ``2026-W48``; None for a name that is not a week."""
    year, sep, week = name.partition("-W")
    try:
        return date.fromisocalendar(int(year), int(week), 1) if sep else None
    except ValueError:
        return None


def is_expired(name: str, today: date, weeks: int) -> bool:
    """True when board ``name``'s week started more than ``weeks`` weeks before the week of ``today``."""
    start = week_start(name)
    if start is None:
        return False  # not ours to judge
    current = today - timedelta(days=today.weekday())
    return start < current - timedelta(weeks=weeks)


async def expire_old_weekly_boards(
    redis: RedisClient, settings: Settings, *, today: date | None = None, scan_count: int = c.SWEEP_SCAN_COUNT
) -> int:
    """Delete the weekly boards past retention, strip leftover TTLs from the kept ones; return the boards deleted."""
    today = today or datetime.now(UTC).date()
    old: list[str] = []
    kept: list[str] = []
    async for raw in redis.scan_iter(match=settings.keys.weekly_board_pattern, count=scan_count):
        key = raw.decode() if isinstance(raw, bytes) else raw
        week = settings.keys.weekly_board_week(key)
        if week is not None:  # not a rebuild's temporary copy
            (old if is_expired(week, today, settings.weekly_board_weeks) else kept).append(key)
    if old:
        await redis.unlink(*old)
        log.info("deleted %d weekly boards older than %d weeks", len(old), settings.weekly_board_weeks)
    if kept:
        async with redis.pipeline(transaction=False) as pipe:
            for key in kept:
                pipe.persist(key)
            await pipe.execute()
    return len(old)
