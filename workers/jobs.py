"""The arq jobs and hooks: flush, leaderboard rebuild, idle sweep; open on start-up, final flush on shut-down.

Every job reads its resources from ``ctx[STATE]`` (a :class:`WorkerState`) that :func:`startup` builds from
``ctx[SETTINGS]`` (set by ``run_worker``/``EmbeddedWorker``) or from the environment (``arq
workers.WorkerSettings``). Jobs never raise: a failure is counted in the metrics and logged once per outage
(``hotstore.writebehind.backoff``), and the next tick retries when the back-off allows.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core import constants as c
from hotstore.core.errors import InvalidInput
from hotstore.core.redis_client import connect
from hotstore.core.settings import Settings
from hotstore.writebehind.backoff import Backoff
from hotstore.writebehind.flush import FlushTotals, drain
from hotstore.writebehind.metrics import record_failure, record_flush
from hotstore.writebehind.rebuild import rebuild_boards_if_lost
from hotstore.writebehind.scripts import WorkerScripts
from hotstore.writebehind.sweep import sweep_idle
from persistence.engine import create_engine
from workers.monitoring import METRICS_PORT, start_monitoring, stop_monitoring

log = logging.getLogger("workers")

SETTINGS = "hotstore_settings"
STATE = "hotstore_state"
MONITOR = "hotstore_monitor"  # the /metrics and /healthz server, when configured
IN_PROCESS = "hotstore_in_process"  # set by EmbeddedWorker: the embedded fakeredis is usable
FLUSH_BUDGET_S = c.FLUSH_LOCK_LEASE_MS / 1000 / 2  # a tick's drain ends well before its lock lease runs out


class RejectedRows(Exception):
    """Rows SQL refused during a flush (each one is logged with its error)."""


@dataclass
class WorkerState:
    """What the jobs of one worker share: clients, scripts, and the back-off of each job."""

    settings: Settings
    redis: aioredis.Redis
    engine: AsyncEngine
    scripts: WorkerScripts
    flush_backoff: Backoff
    rebuild_backoff: Backoff = field(default_factory=lambda: Backoff(base_s=1.0, cap_s=c.FLUSH_BACKOFF_MAX_S))


def open_engine(settings: Settings) -> AsyncEngine:
    """The worker's SQL engine; on PostgreSQL, connects and statements time out instead of hanging."""
    if settings.database_url.startswith("postgresql"):
        timeouts = {"timeout": c.SQL_CONNECT_TIMEOUT_S, "command_timeout": c.FLUSH_JOB_TIMEOUT_S / 2}
        return create_engine(settings.database_url, connect_args=timeouts)
    return create_engine(settings.database_url)


def open_state(
    settings: Settings, *, redis: aioredis.Redis | None = None, engine: AsyncEngine | None = None
) -> WorkerState:
    """The clients the jobs use: ``redis``/``engine`` if given, else opened from ``settings``."""
    redis = redis if redis is not None else connect(settings)
    return WorkerState(
        settings=settings,
        redis=redis,
        engine=engine if engine is not None else open_engine(settings),
        scripts=WorkerScripts(redis),
        flush_backoff=Backoff(base_s=settings.flush_interval, cap_s=c.FLUSH_BACKOFF_MAX_S),
    )


async def startup(ctx: dict[str, Any]) -> None:
    """arq ``on_startup``: open the store's Redis client and the SQL engine."""
    settings: Settings = ctx.get(SETTINGS) or Settings.from_env()
    if settings.embedded_redis and not ctx.get(IN_PROCESS):
        raise InvalidInput(
            "a worker process needs REDIS_URL: the embedded fakeredis lives inside one process "
            "(run the jobs there with hotstore.writebehind.embedded.EmbeddedWorker)"
        )
    ctx[STATE] = open_state(settings)
    ctx[MONITOR] = None if ctx.get(IN_PROCESS) else start_monitoring(settings, ctx.get(METRICS_PORT))
    log.info("hotstore worker for namespace %r started", settings.namespace)


async def shutdown(ctx: dict[str, Any]) -> None:
    """arq ``on_shutdown``: a final flush (bounded in time), then close the clients."""
    state: WorkerState | None = ctx.pop(STATE, None)
    if state is None:
        return
    monitor = ctx.pop(MONITOR, None)  # /healthz stays up during the final flush
    try:
        totals = await asyncio.wait_for(
            drain(state.redis, state.engine, state.settings, scripts=state.scripts),
            c.SHUTDOWN_FLUSH_BUDGET_S,
        )
        await record_flush(state.redis, state.settings.keys, totals.rows)
        if totals.remaining:
            log.warning("final flush left %d entities dirty in Redis (the next worker flushes them)", totals.remaining)
    except Exception as exc:  # the data is safe in Redis, still dirty
        log.error("final flush failed, entities stay dirty in Redis: %s: %s", type(exc).__name__, exc)
    finally:
        stop_monitoring(monitor)
        await state.engine.dispose()
        await state.redis.aclose()


async def flush_once(state: WorkerState, *, budget_s: float | None = FLUSH_BUDGET_S) -> FlushTotals | None:
    """One flush tick: unless backing off or another worker holds the flush lease, drain what is dirty.

    Returns the totals, or ``None`` when the tick did not run or failed (failures are counted and logged).
    """
    if not state.flush_backoff.ready():
        return None
    keys = state.settings.keys
    lease = state.redis.lock(keys.flush_lock, timeout=c.FLUSH_LOCK_LEASE_MS / 1000, blocking=False)
    try:
        if not await lease.acquire():
            return None  # another worker is flushing; the lease only saves wasted work, safety is the version
        totals = await drain(state.redis, state.engine, state.settings, budget_s=budget_s, scripts=state.scripts)
    except Exception as exc:
        state.flush_backoff.failed(exc)
        await record_failure(state.redis, keys, exc)
        return None
    finally:
        await _release(lease)
    state.flush_backoff.succeeded()
    await record_flush(state.redis, keys, totals.rows)
    if totals.rejected:
        await record_failure(state.redis, keys, RejectedRows(f"SQL refused {totals.rejected} rows; they stay dirty"))
    return totals


async def _release(lease: Any) -> None:
    try:
        if await lease.owned():
            await lease.release()
    except Exception:  # lease expired or Redis unreachable: it expires by itself
        log.debug("flush lease not released")


async def flush_job(ctx: dict[str, Any]) -> int:
    """arq cron job: one flush tick; returns the rows written."""
    totals = await flush_once(ctx[STATE])
    return totals.rows if totals else 0


async def rebuild_job(ctx: dict[str, Any]) -> int:
    """arq cron job: rebuild the leaderboards from SQL if Redis lost them; returns the boards rebuilt."""
    state: WorkerState = ctx[STATE]
    if not state.rebuild_backoff.ready():
        return 0
    try:
        report = await rebuild_boards_if_lost(state.redis, state.engine, state.settings)
    except Exception as exc:
        state.rebuild_backoff.failed(exc, "leaderboard rebuild")
        return 0
    state.rebuild_backoff.succeeded("leaderboard rebuild")
    return len(report.boards) if report else 0


async def sweep_job(ctx: dict[str, Any]) -> int:
    """arq cron job: give the idle TTL to clean entities without one; returns how many."""
    state: WorkerState = ctx[STATE]
    try:
        return await sweep_idle(state.redis, state.settings)
    except Exception as exc:
        log.warning("idle sweep failed: %s: %s", type(exc).__name__, exc)
        return 0
