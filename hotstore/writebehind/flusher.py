"""The in-process flusher: the write-behind cycle as a plain asyncio task inside the bot's own process.

With no ``REDIS_URL`` the store lives in an in-process fakeredis server, which no other process can reach, so
its flush must run here; v4 bots run no worker either. The task calls the same :class:`WriteBehind` ticks as
the arq jobs of ``hotstore worker``: a flush every ``flush_interval``, a board-rebuild check with the take-back
recheck, the board repair, an idle sweep::

    async with InProcessFlusher(settings) as flusher:
        ...                         # the bot runs; dirty entities reach SQL every flush_interval
        await flusher.flush_now()   # optional: drain at once
    # leaving the block stops the task and runs the final flush

A tick never raises, and anything unexpected around it is logged and the loop goes on: the task outlives
Redis and SQL outages and only ends when it is stopped.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core.cluster import RedisClient
from hotstore.core.settings import Settings
from hotstore.writebehind.flush import FlushTotals
from hotstore.writebehind.runner import WriteBehind

log = logging.getLogger("hotstore.writebehind")


class InProcessFlusher:
    """An async context manager (or :meth:`start`/:meth:`stop`) running the write-behind cycle as a task."""

    def __init__(
        self, settings: Settings, *, redis: RedisClient | None = None, engine: AsyncEngine | None = None
    ) -> None:
        self.settings = settings
        self._redis = redis
        self._engine = engine
        self._cycle: WriteBehind | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def cycle(self) -> WriteBehind:
        assert self._cycle is not None, "start the flusher first"
        return self._cycle

    async def start(self) -> None:
        """Start the task; raises :class:`~hotstore.core.errors.UnsafeRedisConfig` on an evicting Redis policy."""
        if self._task is not None:
            return
        cycle = WriteBehind.open(self.settings, redis=self._redis, engine=self._engine)
        try:
            await cycle.check_redis()  # an evicting maxmemory-policy (allkeys-*) raises UnsafeRedisConfig
        except BaseException:
            await cycle.close()
            raise
        self._cycle = cycle
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run(self._cycle), name=f"hotstore-flusher-{self.settings.namespace}")

    async def _run(self, cycle: WriteBehind) -> None:
        await cycle.run(self._stopping, boards_and_sweep=True)

    async def flush_now(self) -> FlushTotals:
        """Drain everything dirty now (errors propagate)."""
        return await self.cycle.drain()

    async def stop(self) -> FlushTotals | None:
        """Stop the task, run the final flush (bounded in time) and close the clients it opened."""
        task, self._task = self._task, None
        cycle, self._cycle = self._cycle, None
        if task is not None:
            # The flag ends the loop even if a client swallows the cancellation inside a tick (seen on Python 3.11
            # with bounded Redis and SQL calls): without it, stop() and so close_db() waited forever.
            self._stopping.set()
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        if cycle is None:
            return None
        try:
            return await cycle.final_flush()
        finally:
            await cycle.close()

    async def __aenter__(self) -> InProcessFlusher:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
