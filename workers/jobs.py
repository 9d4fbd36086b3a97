"""The arq jobs and hooks of ``hotstore worker``: each wraps one tick of the write-behind cycle.

:func:`startup` builds the process's :class:`WriteBehind` from ``ctx[SETTINGS]`` (set by ``run_worker``) or from
the environment (``arq workers.WorkerSettings``) into ``ctx[STATE]`` and starts its flush loop
(:meth:`WriteBehind.run`): every worker process flushes the shards it holds a lease on, so flush throughput grows
with workers. :func:`shutdown` stops the loop and runs the final flush. The board rebuild and the idle sweep are
arq crons (one worker per tick is enough). The write-behind logic itself lives in :mod:`hotstore.writebehind`;
this module only adapts it to arq's calling convention.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from hotstore.core.errors import InvalidInput
from hotstore.core.settings import Settings
from hotstore.writebehind.runner import WriteBehind
from workers.monitoring import METRICS_PORT, start_monitoring, stop_monitoring

log = logging.getLogger("workers")

SETTINGS = "hotstore_settings"
STATE = "hotstore_state"
MONITOR = "hotstore_monitor"  # the /metrics and /healthz server, when configured
FLUSH_LOOP = "hotstore_flush_loop"  # (task, stop event) of the process's flush loop


async def startup(ctx: dict[str, Any]) -> None:
    """arq ``on_startup``: open the store's Redis client and the SQL engine, refusing an evicting Redis policy
    (once: a worker that resumes after a Redis outage runs this again and keeps what it opened)."""
    if STATE in ctx:
        return
    settings: Settings = ctx.get(SETTINGS) or Settings.from_env()
    if settings.embedded_redis:
        raise InvalidInput(
            "a worker process needs REDIS_URL: the embedded fakeredis lives inside one process "
            "(its in-process flusher, hotstore.writebehind.flusher.InProcessFlusher, runs there)"
        )
    cycle = WriteBehind.open(settings)
    try:
        await cycle.check_redis()  # an evicting maxmemory-policy (allkeys-*) raises UnsafeRedisConfig: no worker
    except BaseException:
        await cycle.close()
        raise
    ctx[STATE] = cycle
    stopping = asyncio.Event()
    task = asyncio.create_task(cycle.run(stopping, boards_and_sweep=False), name=f"hotstore-flush-{settings.namespace}")
    ctx[FLUSH_LOOP] = (task, stopping)
    ctx[MONITOR] = start_monitoring(settings, ctx.get(METRICS_PORT))
    log.info("hotstore worker for namespace %r started", settings.namespace)


async def shutdown(ctx: dict[str, Any]) -> None:
    """arq ``on_shutdown``: stop the flush loop, a final flush (bounded in time), then close the clients."""
    cycle: WriteBehind | None = ctx.pop(STATE, None)
    monitor = ctx.pop(MONITOR, None)  # /healthz stays up during the final flush
    await stop_flush_loop(ctx)
    if cycle is None:
        stop_monitoring(monitor)
        return
    try:
        await cycle.final_flush()
    finally:
        await cycle.close()
        stop_monitoring(monitor)


async def stop_flush_loop(ctx: dict[str, Any]) -> None:
    """End the flush loop started by :func:`startup` (the flag ends it even if a cancellation is swallowed)."""
    loop_state: tuple[asyncio.Task[None], asyncio.Event] | None = ctx.pop(FLUSH_LOOP, None)
    if loop_state is None:
        return
    task, stopping = loop_state
    stopping.set()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


async def rebuild_job(ctx: dict[str, Any]) -> int:
    """arq cron job: rebuild the leaderboards from SQL if Redis lost them, then recheck the boards of recent
    take-backs; returns the boards rebuilt."""
    cycle: WriteBehind = ctx[STATE]
    rebuilt = await cycle.rebuild_tick()
    await cycle.recheck_tick()
    return rebuilt


async def board_repair_job(ctx: dict[str, Any]) -> int:
    """arq cron job: repair the boards when ``HOTSTORE_BOARD_REPAIR_INTERVAL`` passed since the last repair;
    returns the differences fixed."""
    cycle: WriteBehind = ctx[STATE]
    report = await cycle.board_repair_tick()
    return report.differences if report else 0


async def sweep_job(ctx: dict[str, Any]) -> int:
    """arq cron job: give the idle TTL to clean entities without one; returns how many."""
    cycle: WriteBehind = ctx[STATE]
    return await cycle.sweep_tick()
