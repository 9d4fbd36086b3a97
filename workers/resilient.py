"""The arq worker of ``hotstore worker``, whose main loop outlives Redis outages.

arq's ``Worker.main`` polls Redis in a loop (``_poll_iteration``: the queue, the cron enqueues, the health
beat) and lets a connection error end it, and with it the process. :class:`ResilientWorker` catches those
errors around ``main``, logs the outage once (:class:`hotstore.writebehind.backoff.Backoff`), waits with a capped
exponential back-off and runs ``main`` again: arq's pool reconnects by itself, ``startup`` keeps the write-behind
cycle it already opened, and the cron schedule goes on. The first poll that succeeds logs the recovery once.
SIGINT/SIGTERM still stop the worker at any moment, during an outage too.

Relies on arq 0.28's ``Worker`` internals (``main``, ``_poll_iteration``, ``start_jobs`` and its job slots);
``tests/workers/test_worker_outage.py`` pins that behaviour.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import arq.worker

from hotstore.core.redis_client import UNAVAILABLE_ERRORS
from hotstore.writebehind.backoff import Backoff

log = logging.getLogger("workers")

RESTART_BASE_S = 0.5  # first wait after arq's main loop lost Redis; doubled per failure
RESTART_CAP_S = 5.0  # longest wait: the worker is back within this long of Redis returning
WHAT = "worker main loop (arq's Redis)"


class ResilientWorker(arq.worker.Worker):
    """An ``arq.worker.Worker`` that backs off and resumes when its Redis is unreachable, instead of exiting."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outage = Backoff(base_s=RESTART_BASE_S, cap_s=RESTART_CAP_S)

    async def main(self) -> None:
        while True:
            try:
                await super().main()
                return
            except UNAVAILABLE_ERRORS as exc:
                await asyncio.sleep(self.outage.failed(exc, WHAT))

    async def _poll_iteration(self) -> None:
        await super()._poll_iteration()
        if self.outage.in_outage:
            self.outage.succeeded(WHAT)

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        try:
            await super().start_jobs(job_ids)
        except UNAVAILABLE_ERRORS:
            # The job being started when Redis went away took a slot (semaphore and counter) that no task will
            # give back; without this, max_jobs outages would leave the worker alive but picking no job.
            self._release_sem_dec_counter_on_complete()
            raise
