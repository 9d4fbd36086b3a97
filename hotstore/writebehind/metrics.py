"""Worker metrics in the Redis hash ``keys.metrics``, read by ``hotstore status``.

Counters: rows flushed, flushes, failures, rows SQL refused, version conflicts (a Redis rollback), clean
entities evicted under memory pressure; plus the last error (text and time) and the time and row count of the
last flush. All writes are best-effort: a metric never fails a flush. The hash holds the fleet's totals; each
record_* also counts into this process's Prometheus instruments (:mod:`hotstore.writebehind.telemetry`).
"""

from __future__ import annotations

import logging
from typing import Any

from hotstore.core import constants as c
from hotstore.core.cluster import RedisClient, can_transact
from hotstore.core.keys import KeyScheme
from hotstore.writebehind import telemetry
from persistence.clock import now_ms

__all__ = [
    "now_ms",
    "read_metrics",
    "record_conflicts",
    "record_evictions",
    "record_failure",
    "record_flush",
    "record_refused",
    "record_rows",
]

log = logging.getLogger(__name__)

MAX_ERROR_TEXT = 500
_COUNTERS = (c.METRIC_ROWS_FLUSHED, c.METRIC_FLUSHES, c.METRIC_FAILURES, c.METRIC_LAST_FLUSH_ROWS,
             c.METRIC_REFUSED_ROWS, c.METRIC_VERSION_CONFLICTS, c.METRIC_PRESSURE_EVICTIONS)
_TIMES = (c.METRIC_LAST_FLUSH_AT, c.METRIC_LAST_ERROR_AT)


async def record_rows(redis: RedisClient, keys: KeyScheme, rows: int) -> None:
    """Count ``rows`` rows one batch wrote to SQL, as soon as it committed (a worker killed later in its tick has
    still counted what it wrote)."""
    await _increment(redis, keys, c.METRIC_ROWS_FLUSHED, rows)


async def record_flush(redis: RedisClient, keys: KeyScheme, rows: int) -> None:
    """Count one flush that wrote ``rows`` rows (0 is a flush too: it proves the worker is alive); the rows themselves
    were counted batch by batch (:func:`record_rows`)."""
    telemetry.flush_succeeded()
    try:
        async with redis.pipeline(transaction=can_transact(redis)) as pipe:
            pipe.hincrby(keys.metrics, c.METRIC_FLUSHES, 1)
            pipe.hset(keys.metrics, mapping={c.METRIC_LAST_FLUSH_AT: now_ms(), c.METRIC_LAST_FLUSH_ROWS: rows})
            await pipe.execute()
    except Exception as exc:  # metrics are best-effort; the flush itself already succeeded
        log.debug("could not record flush metrics: %s", exc)


async def record_failure(redis: RedisClient, keys: KeyScheme, error: BaseException) -> None:
    """Count one failed flush and keep its error text."""
    text = f"{type(error).__name__}: {error}"[:MAX_ERROR_TEXT]
    try:
        async with redis.pipeline(transaction=can_transact(redis)) as pipe:
            pipe.hincrby(keys.metrics, c.METRIC_FAILURES, 1)
            pipe.hset(keys.metrics, mapping={c.METRIC_LAST_ERROR: text, c.METRIC_LAST_ERROR_AT: now_ms()})
            await pipe.execute()
    except Exception as exc:  # Redis may be the thing that is down
        log.debug("could not record failure metrics: %s", exc)


async def _increment(redis: RedisClient, keys: KeyScheme, name: str, n: int) -> None:
    if n <= 0:
        return
    try:
        await redis.hincrby(keys.metrics, name, n)  # type: ignore[misc]  # redis-py types sync|async as a union
    except Exception as exc:  # best-effort, as every metric
        log.debug("could not record %s: %s", name, exc)


async def record_refused(redis: RedisClient, keys: KeyScheme, n: int) -> None:
    """Count ``n`` rows SQL refused (they stay dirty, so a stuck row counts again at every retry)."""
    if n > 0:
        telemetry.count_refused(n)
        await _increment(redis, keys, c.METRIC_REFUSED_ROWS, n)


async def record_conflicts(redis: RedisClient, keys: KeyScheme, n: int) -> None:
    """Count ``n`` version conflicts: SQL rows newer than the Redis hash being flushed (a Redis rollback)."""
    if n > 0:
        telemetry.count_conflicts(n)
        await _increment(redis, keys, c.METRIC_VERSION_CONFLICTS, n)


async def record_evictions(redis: RedisClient, keys: KeyScheme, n: int) -> None:
    """Count ``n`` clean entities evicted early because Redis neared maxmemory."""
    await _increment(redis, keys, c.METRIC_PRESSURE_EVICTIONS, n)


async def read_metrics(redis: RedisClient, keys: KeyScheme) -> dict[str, Any]:
    """The metrics hash with numbers as ints, times as epoch ms; absent counters are 0."""
    raw = await redis.hgetall(keys.metrics)  # type: ignore[misc]  # redis-py types sync|async as a union
    values = {
        k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v for k, v in raw.items()
    }
    result: dict[str, Any] = {name: int(values.get(name, 0)) for name in _COUNTERS}
    for name in _TIMES:
        result[name] = int(values[name]) if name in values else None
    result[c.METRIC_LAST_ERROR] = values.get(c.METRIC_LAST_ERROR)
    return result
