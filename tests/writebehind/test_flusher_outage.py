"""The in-process flusher of a bot outlives a Redis outage: it logs the outage, keeps running, and flushes after.

On fakeredis, switched off (every command raises ConnectionError) and on again while the flusher runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import fakeredis
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core.settings import Settings
from hotstore.writebehind.flusher import InProcessFlusher
from hotstore.writebehind.runner import WriteBehind
from tests.support.hot_entities import hot_user, sql_user, sql_user_row

WAIT_S = 30.0  # bound of the wait for the flush after the outage (a condition, not a timed assertion)


async def _until(condition: Callable[[], object]) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while loop.time() < deadline:
        if await condition():  # type: ignore[misc]
            return True
        await asyncio.sleep(0.1)
    return False


async def test_the_flusher_flushes_what_was_written_before_a_redis_outage_once_it_ends(
    sqlite_engine: AsyncEngine, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = fakeredis.FakeServer()
    redis = fakeredis.FakeAsyncRedis(server=server)
    settings = Settings(namespace=namespace, flush_interval=0.2)
    uid = await sql_user(sqlite_engine, 41)
    caplog.set_level(logging.WARNING)
    flusher = InProcessFlusher(settings, redis=redis, engine=sqlite_engine)
    await hot_user(redis, settings.keys, 41, uid, xp=55, version=3)  # acknowledged, dirty, not yet flushed
    server.connected = False
    await flusher.start()
    try:
        await asyncio.sleep(1.0)  # several ticks fail
        alive_during_outage = flusher.running
        server.connected = True

        async def flushed() -> bool:
            row = await sql_user_row(sqlite_engine, 41)
            return row is not None and row.total_xp == 55

        reached_sql = await _until(flushed)

        async def recovery_logged() -> bool:  # SQL holds the row before the tick that wrote it has returned
            return any("flush recovered" in r.getMessage() for r in caplog.records)

        await _until(recovery_logged)
    finally:
        await flusher.stop()
        await redis.aclose()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert alive_during_outage
    assert reached_sql
    assert sum("flush failing" in m for m in warnings) == 1
    assert sum("flush recovered" in m for m in warnings) == 1


async def test_the_flusher_stops_even_if_a_tick_swallows_the_cancellation(
    sqlite_engine: AsyncEngine, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, swallowed = asyncio.Event(), []

    async def swallowing_tick(self: WriteBehind, **_: object) -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:  # what a misbehaving client call does with a cancellation (once)
            if swallowed:
                raise
            swallowed.append(True)

    monkeypatch.setattr(WriteBehind, "flush_tick", swallowing_tick)
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    flusher = InProcessFlusher(Settings(namespace=namespace, flush_interval=0.1), redis=redis, engine=sqlite_engine)
    await flusher.start()
    await started.wait()
    stopping = asyncio.create_task(flusher.stop())
    done, _ = await asyncio.wait({stopping}, timeout=WAIT_S)
    stopping.cancel()
    await redis.aclose()
    assert swallowed
    assert stopping in done
