"""Run the worker jobs inside the bot's own process: the embedded default, the demo, the v4 ``close_db()``.

With no ``REDIS_URL`` the store lives in an in-process fakeredis server (``hotstore.core.redis_client``), which no
other process can reach, so its flush must run here. The same arq jobs run on an in-process arq worker
whose queue sits on the same fakeredis server (or on the real arq Redis when ``REDIS_URL`` is set)::

    async with EmbeddedWorker(settings) as worker:
        ...                       # the bot runs; dirty entities reach SQL every flush_interval
        await worker.flush_now()  # optional: drain at once
    # leaving the block runs the final flush
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

import arq.worker
import fakeredis
import redis.asyncio as aioredis
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import in_progress_key_prefix, job_key_prefix, retry_key_prefix

from hotstore.core.redis_client import embedded_server
from hotstore.core.settings import Settings
from hotstore.writebehind.flush import FlushTotals, drain
from workers.jobs import IN_PROCESS, SETTINGS, STATE, WorkerState
from workers.settings import arq_redis_url, queue_name, worker_options

STARTUP_TIMEOUT_S = 30.0


async def _no_redis_info(*_args: Any, **_kwargs: Any) -> None:
    """fakeredis has no INFO, which arq logs at start-up."""


class EmbeddedWorker:
    """An async context manager running the flush, rebuild and sweep jobs in-process; exit flushes."""

    def __init__(self, settings: Settings, *, poll_delay: float = 0.2) -> None:
        self.settings = settings
        self.poll_delay = poll_delay
        self._worker: arq.worker.Worker | None = None
        self._task: asyncio.Task[None] | None = None

    async def _arq_pool(self) -> ArqRedis:
        if self.settings.embedded_redis and not self.settings.arq_redis_url:
            setattr(arq.worker, "log_redis_info", _no_redis_info)  # noqa: B010  (not a public attribute)
            client = fakeredis.FakeAsyncRedis(server=embedded_server())
            return ArqRedis(pool_or_conn=client.connection_pool)
        return await create_pool(RedisSettings.from_dsn(arq_redis_url(self.settings)))

    async def __aenter__(self) -> EmbeddedWorker:
        ctx = {SETTINGS: self.settings, IN_PROCESS: True}
        options = worker_options(self.settings, ctx=ctx, handle_signals=False, poll_delay=self.poll_delay)
        self._worker = arq.worker.Worker(redis_pool=await self._arq_pool(), **options)  # inside the running loop
        self._task = asyncio.create_task(self._worker.async_run())
        await self._started()
        return self

    async def _started(self) -> None:
        assert self._worker is not None and self._task is not None
        deadline = asyncio.get_running_loop().time() + STARTUP_TIMEOUT_S
        while STATE not in self._worker.ctx:
            if self._task.done():
                self._task.result()  # raises the start-up error
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("embedded worker did not start")
            await asyncio.sleep(0.01)

    @property
    def state(self) -> WorkerState:
        assert self._worker is not None, "use EmbeddedWorker as an async context manager"
        state: WorkerState = self._worker.ctx[STATE]
        return state

    async def flush_now(self) -> FlushTotals:
        """Drain everything dirty now (errors propagate)."""
        state = self.state
        return await drain(state.redis, state.engine, state.settings, scripts=state.scripts)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop the jobs and run the final flush (arq's ``on_shutdown``)."""
        if self._worker is None:
            return
        await self._worker.close()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._worker = None
        self._task = None
        await self._drop_pending_ticks()

    async def _drop_pending_ticks(self) -> None:
        """Remove cron ticks this worker enqueued ahead of time and will never run.

        On a real arq Redis they would otherwise stay queued until the next worker of the namespace starts.
        Ticks are interchangeable (every worker enqueues its own), so dropping them costs nothing; ticks
        another worker is running are left alone.
        """
        if self.settings.embedded_redis and not self.settings.arq_redis_url:
            return  # in-process fakeredis: nothing outlives the process
        redis = aioredis.Redis.from_url(arq_redis_url(self.settings))
        try:
            queue = queue_name(self.settings)
            for raw in await redis.zrange(queue, 0, -1):
                job_id = raw.decode()
                if job_id.startswith(f"hotstore:{self.settings.namespace}:") and not await redis.exists(
                    in_progress_key_prefix + job_id
                ):
                    await redis.zrem(queue, job_id)
                    await redis.delete(job_key_prefix + job_id, retry_key_prefix + job_id)
        finally:
            await redis.aclose()
