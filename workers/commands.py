"""``hotstore worker``: run the arq worker of a namespace in this process, or (``--burst``) drain once and exit."""

from __future__ import annotations

import asyncio
import logging
import sys

from arq.connections import RedisSettings

from hotstore.core.errors import InvalidInput
from hotstore.core.settings import Settings
from hotstore.writebehind.runner import WriteBehind
from workers.monitoring import METRICS_PORT
from workers.resilient import ResilientWorker
from workers.settings import arq_redis_url, worker_options

log = logging.getLogger("workers")


def run_worker(settings: Settings, *, burst: bool = False, metrics_port: int | None = None) -> int:
    """Run the arq worker until SIGINT/SIGTERM; the exit code. It outlives Redis and SQL outages
    (:class:`workers.resilient.ResilientWorker`, the jobs' back-off); on SIGTERM it stops picking jobs and runs a
    final flush. With ``burst``: :func:`burst_flush` instead (0 when nothing is left dirty).

    Needs a real Redis (``REDIS_URL``). With ``metrics_port`` (or ``HOTSTORE_METRICS_PORT``) it serves ``/metrics``
    and ``/healthz`` there.
    """
    try:
        url = arq_redis_url(settings)
    except InvalidInput as exc:
        print(f"hotstore worker: {exc}", file=sys.stderr)
        return 2
    if burst:
        return asyncio.run(burst_flush(settings))
    options = worker_options(settings, redis_settings=RedisSettings.from_dsn(url))
    options["ctx"][METRICS_PORT] = metrics_port
    ResilientWorker(**options).run()
    return 0


async def burst_flush(settings: Settings) -> int:
    """One pass of the worker's jobs: rebuild lost boards, drain everything dirty; 0 when nothing is left dirty.

    Not arq's burst mode: its cron jobs re-enqueue themselves on every poll, so its queue is never empty and an arq
    burst worker never exits.
    """
    cycle = WriteBehind.open(settings)
    try:
        await cycle.rebuild_tick()
        totals = await cycle.flush_everything()
    except Exception as exc:  # the data stays dirty in Redis
        log.error("burst flush failed, entities stay dirty in Redis: %s: %s", type(exc).__name__, exc)
        return 1
    finally:
        await cycle.close()
    log.info("burst flush: %d rows written, %d entities left dirty", totals.rows, totals.remaining)
    return 0 if totals.remaining == 0 else 1
