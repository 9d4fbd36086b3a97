"""``hotstore worker``: run the arq worker of a namespace in this process."""

from __future__ import annotations

import sys

import arq.worker
from arq.connections import RedisSettings

from hotstore.core.errors import InvalidInput
from hotstore.core.settings import Settings
from workers.monitoring import METRICS_PORT
from workers.settings import arq_redis_url, worker_options


def run_worker(settings: Settings, *, burst: bool = False, metrics_port: int | None = None) -> int:
    """Run the arq worker until SIGINT/SIGTERM (or, with ``burst``, until its queue is empty); the exit code.

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
