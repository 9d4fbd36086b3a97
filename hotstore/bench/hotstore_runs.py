"""The hotstore rows: the native API, the v4 ``DatabaseService`` facade, and the native API auto-pipelined.

All hotstore rows share one namespace, warmed once (every user and session read through from SQL, untimed):
the timed messages are then warm, one script per call, as in a running bot farm. The write-behind flush is not
running during the timed runs (it is a separate worker process in production); the dirty sets only grow.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.autopipeline import AutoPipelineRedis
from hotstore.bench.counting import RoundTrips, count_sql, counting_redis
from hotstore.bench.report import AUTOPIPELINE, FACADE, NATIVE
from hotstore.bench.workload import MessagePath, RunResult, Workload, run_path, warm_up
from hotstore.settings import Settings
from hotstore.store import BotStore, HotStore
from persistence.engine import create_engine


class NativePath:
    """``store.bot(name).get_session / save_session / add_xp``."""

    def __init__(self, store: HotStore) -> None:
        self.store = store
        self._bots: dict[str, BotStore] = {}

    def _bot(self, name: str) -> BotStore:
        bot = self._bots.get(name)
        if bot is None:
            bot = self._bots[name] = self.store.bot(name)
        return bot

    async def get_session(self, telegram_id: int, bot: str) -> tuple[dict[str, Any], dict[str, Any]]:
        state = await self._bot(bot).get_session(telegram_id, username=f"user{telegram_id}")
        return state.session, state.stats

    async def save_session(self, telegram_id: int, bot: str, session: dict[str, Any], stats: dict[str, Any]) -> None:
        await self._bot(bot).save_session(telegram_id, session, stats)

    async def add_xp(self, telegram_id: int, bot: str, xp: int) -> int:
        return (await self._bot(bot).add_xp(telegram_id, xp)).new_level


class FacadePath:
    """v4's ``DatabaseService`` per bot, as a v4 bot calls it (``hotstore.compat``)."""

    def __init__(self, services: dict[str, Any]) -> None:
        self.services = services

    async def get_session(self, telegram_id: int, bot: str) -> tuple[dict[str, Any], dict[str, Any]]:
        state = await self.services[bot].get_user_session(telegram_id, username=f"user{telegram_id}")
        return state["session"], state["stats"]

    async def save_session(self, telegram_id: int, bot: str, session: dict[str, Any], stats: dict[str, Any]) -> None:
        await self.services[bot].save_session(telegram_id, session, stats)

    async def add_xp(self, telegram_id: int, bot: str, xp: int) -> int:
        result = await self.services[bot].add_xp_and_check_level_up(telegram_id, xp)
        return int(result["new_level"])


@dataclass
class HotRig:
    """One store on counting connections (Redis and SQL), plus the pieces the rows need."""

    store: HotStore
    engine: AsyncEngine
    redis_trips: RoundTrips
    sql_trips: RoundTrips

    def trips(self) -> int:
        return self.redis_trips.count + self.sql_trips.count


@asynccontextmanager
async def hot_rig(
    redis_url: str, database_url: str, namespace: str, *, autopipeline: bool = False
) -> AsyncIterator[HotRig]:
    """A store on ``redis_url`` (through ``client_class`` if given) and ``database_url``, closed on exit."""
    redis_trips, sql_trips = RoundTrips(), RoundTrips()
    engine = create_engine(database_url)
    count_sql(engine, sql_trips)
    if autopipeline:
        redis = counting_redis(redis_url, redis_trips, client_class=AutoPipelineRedis, fast_pack=True)
    else:
        redis = counting_redis(redis_url, redis_trips)
    settings = Settings(redis_url=redis_url, database_url=database_url, namespace=namespace)
    store = await HotStore.open(settings, redis=redis, engine=engine)
    try:
        yield HotRig(store, engine, redis_trips, sql_trips)
    finally:
        await store.close()
        await redis.aclose()
        await engine.dispose()


async def warm_namespace(rig: HotRig, workload: Workload) -> None:
    """Read every (user, bot) through from SQL once, untimed."""
    await warm_up(NativePath(rig.store), workload)


async def run_native(rig: HotRig, workload: Workload, name: str = NATIVE) -> RunResult:
    return await run_path(name, NativePath(rig.store), workload, rig.trips)


def facade_factory() -> Callable[[HotStore, str], Any] | None:
    """How to build a ``DatabaseService`` on a given store, if ``hotstore.compat`` offers a way (else None)."""
    try:
        compat = importlib.import_module("hotstore.compat")
    except ImportError:
        return None
    service = getattr(compat, "DatabaseService", None)
    for_store = getattr(service, "for_store", None)
    if callable(for_store):
        return lambda store, bot: for_store(store, bot)
    return None


async def run_facade(rig: HotRig, workload: Workload) -> RunResult | None:
    """The facade row, or None when ``hotstore.compat`` is not there (yet)."""
    factory = facade_factory()
    if factory is None:
        return None
    path: MessagePath = FacadePath({bot: factory(rig.store, bot) for bot in workload.bot_names})
    return await run_path(FACADE, path, workload, rig.trips)


async def run_autopipelined(redis_url: str, database_url: str, namespace: str, workload: Workload) -> RunResult:
    """The native row on an auto-pipelining client (hotstore.autopipeline) packing with hiredis."""
    async with hot_rig(redis_url, database_url, namespace, autopipeline=True) as rig:
        result = await run_native(rig, workload, AUTOPIPELINE)
        redis: AutoPipelineRedis = rig.store.redis  # type: ignore[assignment]
        if redis.batches_sent:
            result.note = f"{workload.messages * 3 / redis.batches_sent:.1f} calls per pipeline on average"
        return result
