"""The hotstore rows: the native API and the v4 ``DatabaseService`` facade, with the default settings (adaptive
auto-pipelining on) and with auto-pipelining off, and ``bot.turn`` (hotstore.cli.bench.turn_runs).

All hotstore rows share one namespace, warmed once (every user and session read through from SQL, untimed):
the timed messages are then warm, one script per call, as in a running bot farm. The write-behind flush is not
running during the timed runs (it is a separate worker process in production); the dirty sets only grow.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.cli.bench.counting import RoundTrips, count_sql, counting_redis
from hotstore.cli.bench.report import FACADE, NATIVE
from hotstore.cli.bench.workload import Contender, MessageFn, RunResult, Workload, warm_up
from hotstore.compat import DatabaseService
from hotstore.core.autopipeline import AutoPipelineRedis
from hotstore.core.settings import Settings
from hotstore.core.store import BotStore, HotStore
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
    else:  # hotstore's own client (hotstore.core.redis_client.connect) packs with hiredis too
        redis = counting_redis(redis_url, redis_trips, fast_pack=True)
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


class PipeliningNote:
    """The ``begin``/``note`` pair of a row on an auto-pipelined rig: calls per pipeline and calls sent at once
    during each run (the rig's client is shared by several rows, hence the counters taken at each start)."""

    def __init__(self, rig: HotRig) -> None:
        redis = rig.store.redis
        self.redis = redis if isinstance(redis, AutoPipelineRedis) else None
        self.start = (0, 0, 0)

    def begin(self) -> None:
        if self.redis is not None:
            self.start = (self.redis.batches_sent, self.redis.pipelined_calls, self.redis.direct_sent)

    def __call__(self, _result: RunResult) -> str:
        if self.redis is None:
            return ""
        batches, pipelined, direct = (now - then for now, then in zip(
            (self.redis.batches_sent, self.redis.pipelined_calls, self.redis.direct_sent), self.start, strict=True))
        per = f"{pipelined / batches:.1f} calls per pipeline in {batches} pipelines" if batches else "no pipeline"
        return f"{per}, {direct} calls sent at once"


def _noted(contender: Contender, rig: HotRig) -> Contender:
    note = PipeliningNote(rig)
    if note.redis is not None:
        contender.note, contender.begin = note, note.begin
    return contender


def native_contender(rig: HotRig, name: str = NATIVE, concurrency: int | None = None) -> Contender:
    return _noted(Contender(name, NativePath(rig.store), rig.trips, concurrency=concurrency), rig)


class _StoreBoundService(DatabaseService):
    """v4's ``DatabaseService`` on the bench's store (counting connections) instead of the process-wide one."""

    def __init__(self, bot_name: str, store: HotStore) -> None:
        super().__init__(bot_name)
        self._bench_store = store

    async def _store(self) -> HotStore:
        return self._bench_store


def bound_service(store: HotStore, bot_name: str) -> DatabaseService:
    """A v4 ``DatabaseService`` for ``bot_name`` on ``store``."""
    return _StoreBoundService(bot_name, store)


def facade_contender(rig: HotRig, workload: Workload, name: str = FACADE,
                     concurrency: int | None = None) -> Contender:
    """``hotstore.compat.DatabaseService``, one per bot, as a v4 bot calls it."""
    path = FacadePath({bot: bound_service(rig.store, bot) for bot in workload.bot_names})
    return _noted(Contender(name, path, rig.trips, concurrency=concurrency), rig)


def message_contender(rig: HotRig, name: str, message: MessageFn, concurrency: int | None = None) -> Contender:
    """A row whose whole message is one function (``bot.turn``)."""
    return _noted(Contender(name, None, rig.trips, message=message, concurrency=concurrency), rig)
