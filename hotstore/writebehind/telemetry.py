"""Prometheus instruments of the write-behind, counted by the process that flushes (a worker, or a bot's
embedded worker).

They live in ``prometheus_client``'s default registry, as a library's instruments do, so whatever serves that
registry (the worker's ``/metrics``, or a bot's own ``prometheus_client.start_http_server``) exposes them.
They count what *this process* did; the fleet-wide values that live in Redis (the dirty backlog, its oldest
age, Redis memory) are read at scrape time by :class:`hotstore.writebehind.collector.RedisStateCollector`.

Observing costs a few dictionary look-ups per flush batch (hundreds of rows), never a round trip::

    with batch_timer(entity.name) as timing:
        ...                                  # read, upsert, compare-and-clean
    timing.done(rows=written)

A batch that raises counts as an ``outage`` failure and is not timed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram

ENTITY_NAMES = ("users", "sessions")
FAILURE_OUTAGE = "outage"  # a flush batch that raised: SQL or Redis unreachable, or timed out
FAILURE_REFUSED_ROW = "refused_row"  # a row SQL refused (constraint, bad value); it stays dirty and is retried
BATCH_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

FLUSH_ROWS = Counter("hotstore_flush_rows_total", "Rows the flush wrote to SQL.", ["entity"])
FLUSH_BATCH_SECONDS = Histogram(
    "hotstore_flush_batch_duration_seconds",
    "Time of one flush batch that had work: read from Redis, one SQL transaction, compare-and-clean.",
    ["entity"],
    buckets=BATCH_BUCKETS_S,
)
FLUSH_FAILURES = Counter(
    "hotstore_flush_failures_total",
    "Flush failures by kind: outage (a batch raised: SQL or Redis unreachable) or refused_row (SQL refused a row).",
    ["kind"],
)
VERSION_CONFLICTS = Counter(
    "hotstore_flush_version_conflicts_total",
    "SQL rows found newer than the Redis hash being flushed (Redis lost acknowledged writes: a rollback).",
)
BOARD_REBUILDS = Counter("hotstore_board_rebuilds_total", "Leaderboard rebuilds from SQL after Redis lost its boards.")
LAST_SUCCESS = Gauge(
    "hotstore_flush_last_success_timestamp_seconds",
    "Unix time of this process's last successful flush (0: none yet).",
)

for _entity in ENTITY_NAMES:  # every series exists from the start at 0, so rate() and alerts see it
    FLUSH_ROWS.labels(_entity)
    FLUSH_BATCH_SECONDS.labels(_entity)
for _kind in (FAILURE_OUTAGE, FAILURE_REFUSED_ROW):
    FLUSH_FAILURES.labels(_kind)


@dataclass
class BatchTiming:
    """The running time of one flush batch; :meth:`done` records it with the rows it wrote."""

    entity: str
    started: float

    def done(self, *, rows: int) -> None:
        FLUSH_BATCH_SECONDS.labels(self.entity).observe(time.perf_counter() - self.started)
        if rows:
            FLUSH_ROWS.labels(self.entity).inc(rows)


@contextmanager
def batch_timer(entity: str) -> Iterator[BatchTiming]:
    """Time a flush batch of ``entity``; an exception escaping it counts one ``outage`` failure."""
    timing = BatchTiming(entity, time.perf_counter())
    try:
        yield timing
    except Exception:
        FLUSH_FAILURES.labels(FAILURE_OUTAGE).inc()
        raise


def count_refused(rows: int) -> None:
    FLUSH_FAILURES.labels(FAILURE_REFUSED_ROW).inc(rows)


def count_conflicts(rows: int) -> None:
    VERSION_CONFLICTS.inc(rows)


def count_rebuild() -> None:
    BOARD_REBUILDS.inc()


@dataclass
class _LastSuccess:
    at: float | None = None


_last = _LastSuccess()
LAST_SUCCESS.set_function(lambda: _last.at or 0.0)  # one source for /metrics and /healthz


def flush_succeeded(now: float | None = None) -> None:
    """Mark a successful flush of this process (what ``/healthz`` measures its age from)."""
    _last.at = time.time() if now is None else now


def last_success() -> float | None:
    """Unix time of this process's last successful flush, or ``None`` before the first one."""
    return _last.at
