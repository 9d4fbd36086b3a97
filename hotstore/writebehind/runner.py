"""The write-behind cycle of one process: flush ticks, board rebuilds, rechecks and repairs, idle sweeps and the
final flush.

:class:`WriteBehind` holds what the ticks share (clients, scripts, a back-off per job). Both hosts of the cycle
call these same methods: the arq jobs of a worker process (:mod:`workers.jobs`) and the in-process flusher of
a bot (:mod:`hotstore.writebehind.flusher`). No tick raises: a failure is counted in the metrics, logged once
per outage (:mod:`hotstore.writebehind.backoff`), and the next tick retries when the back-off allows.

Both hosts call :meth:`WriteBehind.check_redis` before the first tick: an evicting ``maxmemory-policy`` refuses
to start (:class:`~hotstore.core.errors.UnsafeRedisConfig`). Each flush tick first relieves memory pressure
(:mod:`hotstore.writebehind.pressure`); version conflicts (a Redis rollback) and pressure are logged once per
episode (:mod:`hotstore.writebehind.episodes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import OutOfMemoryError
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core import constants as c
from hotstore.core.cluster import RedisClient
from hotstore.core.redis_client import UNAVAILABLE_ERRORS, connect
from hotstore.core.redis_config import RedisConfig, check_redis_config, read_redis_config
from hotstore.core.scripts import Scripts
from hotstore.core.settings import Settings
from hotstore.core.sql_errors import sql_unreachable
from hotstore.writebehind.backoff import Backoff
from hotstore.writebehind.board_recheck import recheck_boards
from hotstore.writebehind.board_repair import BoardRepairReport, repair_boards_if_due
from hotstore.writebehind.collector import read_redis_state
from hotstore.writebehind.episodes import Episode
from hotstore.writebehind.flush import FlushTotals, dirty_counts, drain, oldest_dirty_score
from hotstore.writebehind.leases import ShardLeases, default_worker_id, lease_holders
from hotstore.writebehind.metrics import read_metrics, record_evictions, record_failure, record_flush
from hotstore.writebehind.pressure import memory_usage, relieve_pressure
from hotstore.writebehind.rebuild import rebuild_boards_if_lost
from hotstore.writebehind.refused import read_refused
from hotstore.writebehind.sweep import sweep_idle
from hotstore.writebehind.upgrade import LayoutUpgrade
from hotstore.writebehind.weekly_boards import expire_old_weekly_boards
from persistence.clock import now_ms
from persistence.engine import create_engine

FINAL_FLUSH_RETRY_S = 0.2  # pause between attempts of a final flush that met a transient failure


def _transient(exc: BaseException) -> bool:
    """A failure worth another attempt: SQL or Redis unreachable for now (not a refusal, not a bug)."""
    return not isinstance(exc, TimeoutError) and (sql_unreachable(exc) or isinstance(exc, UNAVAILABLE_ERRORS))


log = logging.getLogger("hotstore.writebehind")

FLUSH_BUDGET_S = c.SHARD_LEASE_MS / 1000 / 2  # a tick's drain ends well before its shard leases run out
DRAIN_ROUNDS = 3  # drains of flush_everything before giving up on entities that keep being rewritten


class RejectedRows(Exception):
    """Rows SQL refused during a flush (each one is logged with its error)."""


def open_engine(settings: Settings) -> AsyncEngine:
    """The write-behind's SQL engine: connects, statements and pool checkouts time out after
    ``settings.sql_timeout`` (``HOTSTORE_SQL_TIMEOUT``) instead of hanging; the pool is ``settings``'."""
    return create_engine(settings.database_url, **settings.engine_options())


@dataclass
class WriteBehind:
    """What the write-behind ticks of one process share: clients, scripts, and the back-off of each job."""

    settings: Settings
    redis: RedisClient
    engine: AsyncEngine
    scripts: Scripts
    flush_backoff: Backoff
    leases: ShardLeases  # the shards this process flushes (hotstore.writebehind.leases)
    rebuild_backoff: Backoff = field(default_factory=lambda: Backoff(base_s=1.0, cap_s=c.FLUSH_BACKOFF_MAX_S))
    owns_clients: bool = True
    pressure: Episode = field(default_factory=lambda: Episode("Redis memory pressure"))
    conflicts: Episode = field(default_factory=lambda: Episode("Redis rollback: version conflicts"))
    layout_done: bool = False  # the layout marker was seen: the namespace holds nothing single-tag

    @classmethod
    def open(
        cls, settings: Settings, *, redis: RedisClient | None = None, engine: AsyncEngine | None = None
    ) -> WriteBehind:
        """The clients the ticks use: ``redis``/``engine`` if given (left open by :meth:`close`), else opened
        from ``settings``."""
        client = redis if redis is not None else connect(settings)
        return cls(
            settings=settings,
            redis=client,
            engine=engine if engine is not None else open_engine(settings),
            scripts=(scripts := Scripts(client)),
            flush_backoff=Backoff(base_s=settings.flush_interval, cap_s=c.FLUSH_BACKOFF_MAX_S),
            leases=ShardLeases(client, settings.keys, default_worker_id(), scripts=scripts),
            owns_clients=redis is None and engine is None,
        )

    async def close(self) -> None:
        if self.owns_clients:
            await self.engine.dispose()
            await self.redis.aclose()

    async def check_redis(self) -> RedisConfig:
        """Refuse an evicting ``maxmemory-policy`` (:class:`~hotstore.core.errors.UnsafeRedisConfig`); hosts call
        this before their first tick. An unreadable policy is logged once, not refused."""
        return await check_redis_config(self.redis)

    async def pressure_tick(self) -> int:
        """Above the high mark of ``maxmemory``, evict clean idle entities until below the target; returns how
        many were evicted (counted in the metrics, the episode logged once)."""
        try:
            usage = await memory_usage(self.redis)
            if usage is None or usage.fraction < c.MEMORY_PRESSURE_HIGH:
                self.pressure.observe(False)
                return 0
            self.pressure.observe(True, f"used {usage.used} of maxmemory {usage.maxmemory} bytes "
                                        f"({usage.fraction:.0%}): evicting clean idle entities early")
            evicted = await relieve_pressure(self.redis, self.settings)
        except Exception as exc:  # Redis unreachable: the flush tick reports it
            log.debug("memory pressure check failed: %s: %s", type(exc).__name__, exc)
            return 0
        self.pressure.observe(True, counted=evicted)
        await record_evictions(self.redis, self.settings.keys, evicted)
        return evicted

    def _observe_conflicts(self, totals: FlushTotals) -> None:
        self.conflicts.observe(
            totals.conflicts > 0,
            f"{totals.conflicts} entities hold versions below SQL's (Redis restarted from an older snapshot or a "
            "lagging replica was promoted): Redis's state is kept and rewritten to SQL",
            counted=totals.conflicts,
        )

    async def drain(self, *, budget_s: float | None = None) -> FlushTotals:
        """Flush everything dirty now, without lease or back-off (errors propagate)."""
        return await drain(self.redis, self.engine, self.settings, budget_s=budget_s, scripts=self.scripts)

    async def flush_tick(self, *, budget_s: float | None = FLUSH_BUDGET_S) -> FlushTotals | None:
        """One flush tick: unless backing off, refresh this process's shard leases and drain what is dirty in the
        shards it holds (N flushing processes flush disjoint shards; a lease only saves duplicate work, safety is
        the version).

        Returns the totals, or ``None`` when the tick did not run or failed (failures are counted and logged).
        """
        await self.pressure_tick()
        if not self.flush_backoff.ready():
            return None
        keys = self.settings.keys
        try:
            shards = await self.leases.refresh()
            if not shards:
                return FlushTotals()  # every shard is another live flusher's, until it gives some up
            totals = await drain(self.redis, self.engine, self.settings, budget_s=budget_s, scripts=self.scripts,
                                 shards=sorted(shards))
        except Exception as exc:
            self.flush_backoff.failed(exc)
            await record_failure(self.redis, keys, exc)
            return None
        self.flush_backoff.succeeded()
        self._observe_conflicts(totals)
        await record_flush(self.redis, keys, totals.rows)
        if totals.rejected:
            await record_failure(self.redis, keys, RejectedRows(f"SQL refused {totals.rejected} rows; they stay dirty"))
        return totals

    async def layout_tick(self) -> bool:
        """Until the layout marker is seen: under the lease ``upgrade_lock``, upgrade what is left of the single-tag
        layout (:mod:`hotstore.writebehind.upgrade`; a fresh namespace just gets the marker). True once done."""
        if self.layout_done:
            return True
        upgrade = LayoutUpgrade(self.redis, self.engine, self.settings, self.scripts)
        try:
            if await upgrade.marker_set() or not await upgrade.layout.probe():
                self.layout_done = True  # the probe set the marker of a namespace with nothing single-tag
                return True
            lease = self.redis.lock(self.settings.keys.upgrade_lock, timeout=c.UPGRADE_LOCK_LEASE_MS / 1000,
                                    blocking=False)
            if not await _acquire(lease):
                return False
            try:
                report = await upgrade.run()
            finally:
                await _release(lease)
        except Exception as exc:  # Redis or SQL out of reach: the next tick tries again
            log.warning("layout upgrade failed: %s: %s", type(exc).__name__, exc)
            return False
        self.layout_done = report.done
        return report.done

    async def rebuild_tick(self) -> int:
        """Upgrade a single-tag namespace (:meth:`layout_tick`, until done), then rebuild the leaderboards from SQL
        if Redis lost them; returns the boards rebuilt."""
        await self.layout_tick()
        if not self.rebuild_backoff.ready():
            return 0
        try:
            report = await rebuild_boards_if_lost(self.redis, self.engine, self.settings)
        except Exception as exc:
            self.rebuild_backoff.failed(exc, "leaderboard rebuild")
            return 0
        self.rebuild_backoff.succeeded("leaderboard rebuild")
        return len(report.boards) if report else 0

    async def recheck_tick(self) -> int:
        """Rewrite the boards of the take-backs older than the grace (:mod:`hotstore.writebehind.board_recheck`);
        returns the take-backs settled. Runs after the rebuild check (same cron)."""
        try:
            return await recheck_boards(self.redis, self.scripts, self.settings)
        except Exception as exc:
            log.warning("board recheck failed (retried next tick): %s: %s", type(exc).__name__, exc)
            return 0

    async def board_repair_tick(self) -> BoardRepairReport | None:
        """Compare the boards with the entities and fix them when ``HOTSTORE_BOARD_REPAIR_INTERVAL`` seconds passed
        since the last repair (0: never), under the rebuild lease (:mod:`hotstore.writebehind.board_repair`);
        ``None`` when it did not run or failed (logged; the next tick tries again)."""
        try:
            return await repair_boards_if_due(self.redis, self.engine, self.settings)
        except Exception as exc:
            log.warning("board repair failed (retried next tick): %s: %s", type(exc).__name__, exc)
            return None

    async def sweep_tick(self) -> int:
        """Give the idle TTL to clean entities without one, delete weekly boards past retention; returns how many
        entities got the TTL."""
        try:
            await expire_old_weekly_boards(self.redis, self.settings)
            return await sweep_idle(self.redis, self.settings)
        except Exception as exc:
            log.warning("idle sweep failed: %s: %s", type(exc).__name__, exc)
            return 0

    async def refresh_leases(self) -> None:
        """The leases' heartbeat between flush ticks (a host whose flush interval is longer than the heartbeat);
        a failure is logged: the leases held run out by themselves."""
        try:
            await self.leases.refresh()
        except Exception as exc:
            log.debug("shard lease refresh failed: %s: %s", type(exc).__name__, exc)

    async def run(self, stopping: asyncio.Event, *, boards_and_sweep: bool) -> None:
        """The host loop: a flush tick every ``flush_interval`` and (with ``boards_and_sweep``: the in-process
        flusher; a worker has arq crons for them) the board-rebuild check and the idle sweep, while a task beside it
        refreshes the shard leases every heartbeat, however long a tick takes. Returns when ``stopping`` is set;
        never raises."""
        heartbeat = asyncio.create_task(self._heartbeat(stopping), name="hotstore-shard-leases")
        try:
            await self._ticks(stopping, boards_and_sweep=boards_and_sweep)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _heartbeat(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            await self.refresh_leases()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.leases.heartbeat_s)

    async def _ticks(self, stopping: asyncio.Event, *, boards_and_sweep: bool) -> None:
        loop = asyncio.get_running_loop()
        next_flush = next_rebuild = next_sweep = next_repair = loop.time()
        while not stopping.is_set():
            now = loop.time()
            try:
                if now >= next_flush:
                    next_flush = now + self.settings.flush_interval
                    await self.flush_tick()
                if boards_and_sweep and now >= next_rebuild:
                    next_rebuild = now + c.REBUILD_CHECK_INTERVAL_S
                    await self.rebuild_tick()
                    await self.recheck_tick()
                if boards_and_sweep and now >= next_repair and self.settings.board_repair_interval > 0:
                    next_repair = now + min(self.settings.board_repair_interval, c.BOARD_REPAIR_CHECK_INTERVAL_S)
                    await self.board_repair_tick()
                if boards_and_sweep and now >= next_sweep:
                    next_sweep = now + c.SWEEP_INTERVAL_S
                    await self.sweep_tick()
            except Exception:  # a tick never raises; this is a bug, and the flusher must not die of it
                log.exception("write-behind loop: unexpected error; going on")
            wait = max(0.0, next_flush - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), wait)

    async def final_flush(self, *, budget_s: float = c.SHUTDOWN_FLUSH_BUDGET_S) -> FlushTotals | None:
        """The flush of a stopping process, bounded in time, over every shard (nothing waits for another flusher's
        next tick), then the shard leases go back; failures are logged (the data stays dirty).

        A transient failure (SQL or Redis unreachable for a moment, SQLite's "database is locked" while another
        writer holds it) is retried within the budget: a stopping process is often the last writer of what it
        holds (the embedded Redis goes with it)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget_s
        while True:
            try:
                totals = await asyncio.wait_for(self.drain(), max(0.0, deadline - loop.time()))
                break
            except Exception as exc:  # the data is safe in Redis, still dirty
                retry = _transient(exc) and loop.time() + FINAL_FLUSH_RETRY_S < deadline
                if not retry:
                    log.error("final flush failed, entities stay dirty in Redis: %s: %s", type(exc).__name__, exc)
                    await self._release_leases()
                    return None
                log.warning("final flush: %s, retrying in %.1f s", type(exc).__name__, FINAL_FLUSH_RETRY_S)
                await asyncio.sleep(FINAL_FLUSH_RETRY_S)
        await self._release_leases()
        await record_flush(self.redis, self.settings.keys, totals.rows)
        if totals.remaining:
            log.warning("final flush left %d entities dirty in Redis (the next flusher takes them)", totals.remaining)
        return totals

    async def _release_leases(self) -> None:
        try:
            await self.leases.release()
        except Exception as exc:  # Redis unreachable: the leases run out by themselves
            log.debug("shard leases not released: %s: %s", type(exc).__name__, exc)

    async def flush_everything(self) -> FlushTotals:
        """Drain until nothing is dirty (at most :data:`DRAIN_ROUNDS` rounds); errors propagate.

        The totals' ``rows`` count every round; ``remaining`` is what the last round left dirty.
        """
        rows = rejected = 0
        for _ in range(DRAIN_ROUNDS):
            totals = await self.drain()
            self._observe_conflicts(totals)
            rows += totals.rows
            rejected = totals.rejected
            if totals.remaining == 0:
                break
        await record_flush(self.redis, self.settings.keys, rows)
        return FlushTotals(rows=rows, remaining=totals.remaining, rejected=rejected)

    async def status(self) -> dict[str, Any]:
        """Dirty counts, the age of the oldest dirty entity (seconds, ``None`` if none), the rows SQL refused
        (``refused_count``; ``refused_rows``: the most recent, each ``key``, ``entity``, ``member``, ``error``,
        ``at``), the metrics, and the Redis server's ``maxmemory_policy``, ``used_memory``, ``maxmemory`` and
        ``persistence`` (``aof``, ``rdb``, ``none``; each ``None`` when Redis does not say)."""
        keys = self.settings.keys
        counts = await dirty_counts(self.redis, keys)
        redis_state = await read_redis_state(self.redis, keys)
        oldest = await oldest_dirty_score(self.redis, keys)
        refused_count, refused_rows = await read_refused(self.redis, keys)
        workers, unleased = await lease_holders(self.redis, keys)
        return {
            "namespace": self.settings.namespace,
            "dirty_users": counts["users"],
            "dirty_sessions": counts["sessions"],
            "dirty_documents": counts.get("documents", 0),
            "oldest_dirty_age_s": max(0.0, (now_ms() - oldest) / 1000) if oldest is not None else None,
            "flush_workers": workers,  # live worker id -> shards it holds a flush lease on
            "unleased_shards": unleased,  # shards no live worker flushes now (all of them when none runs)
            "refused_count": refused_count,
            "refused_rows": refused_rows,
            "metrics": await read_metrics(self.redis, keys),
            "redis_memory": {"used_bytes": redis_state.used_memory, "max_bytes": redis_state.maxmemory},
            "redis": (await read_redis_config(self.redis)).as_dict(),
        }





async def _acquire(lease: Any) -> bool:
    """Take a redis-py lock without waiting; a full Redis cannot store it, and then the job runs without it (a lease
    only saves duplicate work here, the job is safe to run twice)."""
    try:
        return bool(await lease.acquire())
    except OutOfMemoryError:
        return True


async def _release(lease: Any) -> None:
    try:
        if await lease.owned():
            await lease.release()
    except Exception:  # lease expired or Redis unreachable: it expires by itself
        log.debug("lease not released")
