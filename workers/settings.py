"""arq configuration: ``arq workers.WorkerSettings`` (from the environment) or :func:`worker_options`.

Scheduling: the flush is **not** an arq job. Every worker process runs its own flush loop (started in the
``on_startup`` hook, :func:`workers.jobs.startup`) over the shards it holds a lease on
(:mod:`hotstore.writebehind.leases`), so N workers flush disjoint shards and throughput grows with them; when
a worker is SIGKILLed, its leases run out within ``SHARD_LEASE_MS`` and the survivors take its shards. A unique
arq cron would run each tick on one worker only. Crash safety never depends on arq re-running anything: the
dirty marks stay in Redis until compare-and-clean. The board rebuild and the idle sweep stay unique arq crons.

The queue and every cron name carry the namespace, so several namespaces can share one arq Redis.
"""

from __future__ import annotations

from typing import Any

from arq.connections import RedisSettings
from arq.cron import CronJob, cron
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from hotstore.core import constants as c
from hotstore.core.cluster import is_cluster_url
from hotstore.core.errors import InvalidInput
from hotstore.core.settings import Settings
from workers.jobs import SETTINGS, board_repair_job, rebuild_job, shutdown, startup, sweep_job


def queue_name(settings: Settings) -> str:
    return c.ARQ_QUEUE_PREFIX + settings.namespace


def every(seconds: float) -> set[int]:
    """The ``second=`` set of a cron that fires every ``seconds`` (1…59; 60 and more: once a minute)."""
    step = max(1, round(seconds))
    return {0} if step >= 60 else set(range(0, 60, step))


def cron_jobs(settings: Settings) -> list[CronJob]:
    """The rebuild (with the take-back recheck), sweep and (unless its interval is 0) board repair crons of one
    namespace; the flush is each worker's own loop. The repair cron only looks every minute (or every interval, if
    shorter) whether the interval passed since the last repair of any worker (``keys.boards_repaired``)."""
    prefix = f"hotstore:{settings.namespace}:"
    repair = [] if settings.board_repair_interval <= 0 else [
        cron(
            board_repair_job,
            name=prefix + "board_repair",
            second=every(min(settings.board_repair_interval, c.BOARD_REPAIR_CHECK_INTERVAL_S)),
            timeout=c.REBUILD_JOB_TIMEOUT_S,
        ),
    ]
    return [
        cron(
            rebuild_job,
            name=prefix + "rebuild",
            second=every(c.REBUILD_CHECK_INTERVAL_S),
            run_at_startup=True,
            timeout=c.REBUILD_JOB_TIMEOUT_S,
        ),
        cron(
            sweep_job,
            name=prefix + "sweep",
            minute=set(range(0, 60, c.SWEEP_INTERVAL_S // 60)),
            second=0,
            timeout=c.SWEEP_JOB_TIMEOUT_S,
        ),
        *repair,
    ]


def arq_redis_url(settings: Settings) -> str:
    """Where arq keeps its queue: ``HOTSTORE_ARQ_REDIS_URL``, else the store's ``REDIS_URL``."""
    url = settings.arq_redis_url or settings.redis_url
    if not url:
        raise InvalidInput(
            "a worker process needs REDIS_URL (or HOTSTORE_ARQ_REDIS_URL): the embedded fakeredis lives inside "
            "one process, so its in-process flusher (hotstore.writebehind.flusher.InProcessFlusher) runs there"
        )
    if is_cluster_url(url):
        raise InvalidInput(
            "arq's queue cannot live on a Redis Cluster (its commands span keys of different slots): set "
            "HOTSTORE_ARQ_REDIS_URL to a standalone Redis; the store itself stays on the cluster named by REDIS_URL"
        )
    return url


# ``arq workers.WorkerSettings`` runs arq's own Worker class, whose main loop dies on a Redis error; its pool
# retries each command instead (every 2 s at most, for about two minutes). ``hotstore worker`` needs no such
# retry: its ResilientWorker resumes after any outage (workers/resilient.py).
ARQ_CLI_RETRY_CAP_S = 2.0
ARQ_CLI_RETRIES = 60


def arq_cli_redis_settings(url: str) -> RedisSettings:
    """arq's ``RedisSettings`` for ``url`` with commands retried across a Redis outage (``arq`` CLI only)."""
    settings = RedisSettings.from_dsn(url)
    settings.retry_on_error = [RedisConnectionError, RedisTimeoutError]
    settings.retry = Retry(ExponentialBackoff(cap=ARQ_CLI_RETRY_CAP_S, base=0.1), ARQ_CLI_RETRIES)
    return settings


def worker_options(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments of ``arq.worker.Worker`` for ``settings`` (no ``redis_settings``/``redis_pool``)."""
    options: dict[str, Any] = {
        "cron_jobs": cron_jobs(settings),
        "functions": [],
        "queue_name": queue_name(settings),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "ctx": {SETTINGS: settings},
        "keep_result": 0,
        "max_jobs": 4,
        "job_timeout": c.FLUSH_JOB_TIMEOUT_S,
        "health_check_interval": c.WORKER_HEALTH_CHECK_INTERVAL_S,
    }
    options.update(overrides)
    return options


def worker_settings_from_env() -> type:
    """The ``WorkerSettings`` class for the current environment (what ``arq workers.WorkerSettings`` loads)."""
    settings = Settings.from_env()
    options = worker_options(settings)
    if not settings.embedded_redis:  # without REDIS_URL, startup() refuses with a clear message
        options["redis_settings"] = arq_cli_redis_settings(arq_redis_url(settings))
    options["__doc__"] = "arq settings of the hotstore worker, read from the environment by Settings.from_env()."
    return type("WorkerSettings", (), options)


def __getattr__(name: str) -> Any:
    # Built on first access, not at import: importing workers.settings must not depend on the environment.
    if name == "WorkerSettings":
        return worker_settings_from_env()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
