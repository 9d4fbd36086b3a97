"""What the CLI commands ``hotstore worker``, ``hotstore flush`` and ``hotstore status`` do.

``hotstore.cli.main`` parses flags into :class:`hotstore.core.settings.Settings` and calls these. ``flush_all`` and
``status`` have async twins for callers already inside an event loop.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import arq.worker
from arq.connections import RedisSettings

from hotstore.core.errors import InvalidInput
from hotstore.core.settings import Settings
from hotstore.writebehind.collector import read_redis_state
from hotstore.writebehind.entities import ENTITIES
from hotstore.writebehind.flush import dirty_counts, drain
from hotstore.writebehind.metrics import now_ms, read_metrics, record_flush
from workers.jobs import open_state
from workers.monitoring import METRICS_PORT
from workers.settings import arq_redis_url, worker_options

FLUSH_ALL_ROUNDS = 3  # drains before giving up on entities that keep being rewritten


def run_worker(settings: Settings, *, burst: bool = False, metrics_port: int | None = None) -> int:
    """``hotstore worker``: run the arq worker in this process until SIGINT/SIGTERM; returns the exit code.

    Needs a real Redis (``REDIS_URL``); on SIGTERM it stops picking jobs and runs a final flush. With
    ``metrics_port`` (or ``HOTSTORE_METRICS_PORT``) it serves ``/metrics`` and ``/healthz`` there.
    """
    try:
        url = arq_redis_url(settings)
    except InvalidInput as exc:
        print(f"hotstore worker: {exc}", file=sys.stderr)
        return 2
    options = worker_options(settings, redis_settings=RedisSettings.from_dsn(url), burst=burst)
    options["ctx"][METRICS_PORT] = metrics_port
    arq.worker.run_worker(options)
    return 0


async def flush_all_async(settings: Settings) -> int:
    """Drain everything dirty now; 0 when nothing dirty remains, 1 otherwise (the reason on stderr)."""
    state = open_state(settings)
    rows = 0
    try:
        for _ in range(FLUSH_ALL_ROUNDS):
            totals = await drain(state.redis, state.engine, settings, scripts=state.scripts)
            rows += totals.rows
            if totals.remaining == 0:
                break
        await record_flush(state.redis, settings.keys, rows)
    except Exception as exc:
        print(f"hotstore flush: failed, entities stay dirty in Redis: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        await state.engine.dispose()
        await state.redis.aclose()
    if totals.remaining:
        print(
            f"hotstore flush: {totals.remaining} entities are still dirty (rewritten while flushing); run it again",
            file=sys.stderr,
        )
        return 1
    print(f"hotstore flush: {rows} rows written, nothing dirty remains")
    return 0


def flush_all(settings: Settings) -> int:
    """``hotstore flush``: :func:`flush_all_async` in a fresh event loop."""
    return asyncio.run(flush_all_async(settings))


async def status_async(settings: Settings) -> dict[str, Any]:
    """Dirty counts, the age of the oldest dirty entity (seconds, ``None`` if none), the worker metrics and Redis
    memory (``None`` where the server does not say)."""
    state = open_state(settings)
    try:
        redis, keys = state.redis, settings.keys
        counts = await dirty_counts(redis, keys)
        oldest: list[float] = []
        for entity in ENTITIES:
            first = await redis.zrange(entity.dirty_set(keys), 0, 0, withscores=True)
            oldest += [score for _, score in first]
        metrics = await read_metrics(redis, keys)
        redis_state = await read_redis_state(redis, keys)
    finally:
        await state.engine.dispose()
        await state.redis.aclose()
    return {
        "namespace": settings.namespace,
        "dirty_users": counts["users"],
        "dirty_sessions": counts["sessions"],
        "oldest_dirty_age_s": max(0.0, (now_ms() - min(oldest)) / 1000) if oldest else None,
        "metrics": metrics,
        "redis_memory": {"used_bytes": redis_state.used_memory, "max_bytes": redis_state.maxmemory},
    }


def status(settings: Settings) -> dict[str, Any]:
    """``hotstore status``: :func:`status_async` in a fresh event loop."""
    return asyncio.run(status_async(settings))
