"""``hotstore worker`` outlives a Redis outage: arq's main loop backs off and resumes instead of exiting.

In-process, on fakeredis: the server is switched off (every command raises ConnectionError, as a refused
connection does) and on again while the worker runs; its cron job must run again afterwards. The real-server
version, a ``hotstore worker`` process behind a TCP proxy that is cut for 5 s, is a row of
tests/workers/test_fault_matrix.py.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import arq.worker
import fakeredis
import pytest
from arq.connections import ArqRedis
from arq.cron import cron

from workers.resilient import ResilientWorker

WAIT_S = 30.0  # bound of each wait for something to happen (a condition, not a timed assertion)


@pytest.fixture(autouse=True)
def no_redis_info(monkeypatch: pytest.MonkeyPatch) -> None:
    """arq logs the server's INFO at start-up, a command fakeredis does not have."""

    async def skip(redis: Any, log_func: Any) -> None:
        return None

    monkeypatch.setattr(arq.worker, "log_redis_info", skip)


class Runs:
    """Counts the runs of the worker's cron job."""

    def __init__(self) -> None:
        self.count = 0

    async def job(self, ctx: dict[str, Any]) -> None:
        self.count += 1


async def _until(condition: Any) -> bool:
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while asyncio.get_running_loop().time() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return False


def _worker(server: fakeredis.FakeServer, runs: Runs) -> ResilientWorker:
    pool = ArqRedis(fakeredis.FakeAsyncRedis(server=server).connection_pool)
    return ResilientWorker(functions=[], cron_jobs=[cron(runs.job, name="tick", second=set(range(60)))],
                           redis_pool=pool, handle_signals=False, poll_delay=0.05, keep_result=0)


async def test_the_worker_runs_its_jobs_again_after_a_redis_outage() -> None:
    server, runs = fakeredis.FakeServer(), Runs()
    main = asyncio.create_task(_worker(server, runs).main())
    try:
        assert await _until(lambda: runs.count >= 1)
        server.connected = False
        await asyncio.sleep(2.0)  # several polls fail: arq's own loop would have ended here
        alive_during_outage = not main.done()
        server.connected = True
        before = runs.count
        resumed = await _until(lambda: runs.count > before)
    finally:
        main.cancel()
        await asyncio.gather(main, return_exceptions=True)
    assert alive_during_outage
    assert resumed


async def test_an_outage_is_logged_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    server, runs = fakeredis.FakeServer(), Runs()
    main = asyncio.create_task(_worker(server, runs).main())
    caplog.set_level(logging.WARNING, logger="hotstore.writebehind.flush")
    try:
        assert await _until(lambda: runs.count >= 1)
        server.connected = False
        await asyncio.sleep(2.0)
        server.connected = True
        before = runs.count
        assert await _until(lambda: runs.count > before)
    finally:
        main.cancel()
        await asyncio.gather(main, return_exceptions=True)
    messages = [r.getMessage() for r in caplog.records if "worker main loop" in r.getMessage()]
    assert [("failing" in m, "recovered" in m) for m in messages] == [(True, False), (False, True)]
