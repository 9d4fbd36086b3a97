"""The one clock of hotstore: aware UTC datetimes for SQL rows and epoch milliseconds for Redis.

Every writer of a namespace uses the same convention (the client's wall clock), so dirty-since scores, TTL
deadlines and SQL timestamps agree. Services take a :data:`Clock` so tests can move time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


def now_ms() -> int:
    """The current time in epoch milliseconds (Redis scores and hash fields)."""
    return time.time_ns() // 1_000_000


def ms_to_datetime(ms: int) -> datetime:
    """Epoch milliseconds back to an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, UTC)
