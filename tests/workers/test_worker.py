"""The write-behind runtime: ticks, back-off during an outage, the flush lease, the in-process flusher, arq jobs."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest
import redis.asyncio as aioredis
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core import constants as c
from hotstore.core.errors import InvalidInput
from hotstore.core.keys import board_member, session_member
from hotstore.core.redis_client import connect
from hotstore.core.settings import Settings
from hotstore.core.store import HotStore
from hotstore.writebehind.backoff import Backoff
from hotstore.writebehind.flush import FlushTotals
from hotstore.writebehind.flusher import InProcessFlusher
from hotstore.writebehind.leases import ShardLeases
from hotstore.writebehind.metrics import read_metrics
from hotstore.writebehind.runner import WriteBehind
from tests.support.dirty import dirty_count
from tests.support.hot_entities import delete_namespace, hot_user, settings_for, sql_user, sql_user_row
from tests.support.servers import REDIS_ENV, real_server_url
from workers.jobs import FLUSH_LOOP, SETTINGS, STATE, rebuild_job, shutdown, startup
from workers.settings import cron_jobs, every, queue_name, worker_settings_from_env

UNREACHABLE_PG = "postgresql://postgres@127.0.0.1:9/none"  # port 9 (discard): nothing listens


@pytest.fixture
def worker_settings(store_settings: Settings) -> Settings:
    """``store_settings`` (both axes; the process-wide embedded fakeredis for ``fake``) flushing every second."""
    return replace(store_settings, flush_interval=1)


async def test_in_process_flusher_flushes_dirty_entities_in_the_background(
    worker_settings: Settings, sql_engine: AsyncEngine
) -> None:
    redis = connect(worker_settings)
    uid = await sql_user(sql_engine, 31)
    async with InProcessFlusher(worker_settings):
        await hot_user(redis, worker_settings.keys, 31, uid, xp=77, version=2)
        for _ in range(100):
            if await dirty_count(redis, worker_settings.keys, "users") == 0:
                break
            await asyncio.sleep(0.1)
        row = await sql_user_row(sql_engine, 31)
    await redis.aclose()
    assert row is not None and row.total_xp == 77


async def test_leaving_the_in_process_flusher_runs_a_final_flush(
    worker_settings: Settings, sql_engine: AsyncEngine
) -> None:
    redis = connect(worker_settings)
    uid = await sql_user(sql_engine, 32)
    async with InProcessFlusher(worker_settings):
        await hot_user(redis, worker_settings.keys, 32, uid, xp=5, version=9)
    row = await sql_user_row(sql_engine, 32)
    dirty = await dirty_count(redis, worker_settings.keys, "users")
    await redis.aclose()
    assert row is not None and (row.total_xp, row.version) == (5, 9)
    assert dirty == 0


async def test_a_final_flush_retries_a_moment_of_sql_unreachable_within_its_budget(
    worker_settings: Settings, sql_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SQLite's "database is locked" (another writer holds it) or a PostgreSQL blip at shutdown: the stopping
    process tries again while its budget lasts, instead of leaving what it holds dirty (the embedded Redis goes
    with it)."""
    redis = connect(worker_settings)
    uid = await sql_user(sql_engine, 34)
    state = WriteBehind.open(worker_settings, redis=redis)
    await hot_user(redis, worker_settings.keys, 34, uid, xp=7, version=3)
    real_drain, failures = state.drain, {"left": 2}

    async def locked_twice() -> FlushTotals:
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("INSERT INTO users ...", {}, Exception("database is locked"))
        return await real_drain()

    monkeypatch.setattr(state, "drain", locked_twice)
    with caplog.at_level(logging.WARNING, logger="hotstore.writebehind"):
        totals = await state.final_flush(budget_s=10)
    row = await sql_user_row(sql_engine, 34)
    dirty = await dirty_count(redis, worker_settings.keys, "users")
    await state.engine.dispose()
    await redis.aclose()
    assert totals is not None and failures["left"] == 0
    assert row is not None and (row.total_xp, row.version) == (7, 3) and dirty == 0
    assert sum("retrying" in record.getMessage() for record in caplog.records) == 2


async def test_a_final_flush_gives_up_on_a_refusal_at_once(
    worker_settings: Settings, redis_client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = WriteBehind.open(worker_settings, redis=redis_client)
    attempts = {"n": 0}

    async def broken() -> FlushTotals:
        attempts["n"] += 1
        raise ValueError("a bug, not an outage")

    monkeypatch.setattr(state, "drain", broken)
    assert await state.final_flush(budget_s=10) is None
    await state.engine.dispose()
    assert attempts["n"] == 1


async def test_flush_now_drains_at_once(worker_settings: Settings, sql_engine: AsyncEngine) -> None:
    redis = connect(worker_settings)
    uid = await sql_user(sql_engine, 33)
    async with InProcessFlusher(worker_settings) as worker:
        await hot_user(redis, worker_settings.keys, 33, uid, xp=1, version=1)
        totals = await worker.flush_now()
    await redis.aclose()
    assert totals.remaining == 0


async def test_failed_flush_is_counted_and_backs_off(redis_client: aioredis.Redis, namespace: str) -> None:
    state = WriteBehind.open(Settings(database_url=UNREACHABLE_PG, namespace=namespace), redis=redis_client)
    await hot_user(redis_client, state.settings.keys, 1, 1, xp=1, version=1)

    first = await state.flush_tick()
    second = await state.flush_tick()  # inside the back-off window: not attempted

    metrics = await read_metrics(redis_client, state.settings.keys)
    await state.engine.dispose()
    assert (first, second) == (None, None)
    assert metrics[c.METRIC_FAILURES] == 1
    assert metrics[c.METRIC_LAST_ERROR] and metrics[c.METRIC_LAST_ERROR_AT]
    assert state.flush_backoff.in_outage
    assert await dirty_count(redis_client, state.settings.keys, "users") == 1  # nothing lost


async def test_a_tick_flushes_nothing_while_another_worker_holds_every_shard_lease(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    state = WriteBehind.open(settings, redis=redis_client, engine=sql_engine)
    await hot_user(redis_client, settings.keys, 1, await sql_user(sql_engine, 1), xp=1, version=1)
    other = ShardLeases(redis_client, settings.keys, "other-worker")
    assert len(await other.refresh()) == settings.keys.shards  # alone so far: it holds every shard

    assert await state.flush_tick() == FlushTotals()  # our share is half, but none is free yet
    assert await dirty_count(redis_client, settings.keys, "users") == 1
    await other.release()
    totals = await state.flush_tick()
    assert totals is not None and totals.rows == 1
    assert state.leases.held == frozenset(settings.keys.all_shards())


async def test_successful_flush_records_metrics(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    state = WriteBehind.open(settings, redis=redis_client, engine=sql_engine)
    for tg in (1, 2):
        await hot_user(redis_client, settings.keys, tg, await sql_user(sql_engine, tg), xp=1, version=1)

    await state.flush_tick()

    metrics = await read_metrics(redis_client, settings.keys)
    assert (metrics[c.METRIC_ROWS_FLUSHED], metrics[c.METRIC_FLUSHES], metrics[c.METRIC_FAILURES]) == (2, 1, 0)
    assert metrics[c.METRIC_LAST_FLUSH_AT] is not None


def test_backoff_doubles_up_to_its_cap() -> None:
    now = [0.0]
    backoff = Backoff(base_s=1, cap_s=5, clock=lambda: now[0])

    delays = [backoff.failed(OSError("down")) for _ in range(5)]

    assert delays == [1, 2, 4, 5, 5]
    assert not backoff.ready()
    now[0] = 5.0
    assert backoff.ready()


def test_backoff_logs_once_per_outage_and_once_on_recovery(caplog: pytest.LogCaptureFixture) -> None:
    backoff = Backoff(base_s=1, cap_s=5, clock=lambda: 0.0)
    with caplog.at_level(logging.INFO, logger="hotstore.writebehind.flush"):
        for _ in range(4):
            backoff.failed(OSError("connection refused"))
        backoff.succeeded()
        backoff.succeeded()
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(messages) == 2
    assert "connection refused" in messages[0] and "recovered after 4" in messages[1]


def test_cron_seconds_follow_the_flush_interval() -> None:
    assert every(1) == set(range(60))
    assert every(15) == {0, 15, 30, 45}
    assert every(120) == {0}


def test_queue_and_cron_names_carry_the_namespace() -> None:
    settings = Settings(namespace="family_a")
    assert queue_name(settings) == "arq:hotstore:family_a"
    assert {job.name for job in cron_jobs(settings)} == {  # the flush is each worker's own loop, not a cron
        "hotstore:family_a:rebuild",
        "hotstore:family_a:sweep",
        "hotstore:family_a:board_repair",
    }


def test_the_board_repair_interval_is_read_from_the_environment() -> None:
    assert Settings().board_repair_interval == 3600
    assert Settings.from_env({"HOTSTORE_BOARD_REPAIR_INTERVAL": "600"}).board_repair_interval == 600
    assert Settings.from_env({"HOTSTORE_BOARD_REPAIR_INTERVAL": "0"}).board_repair_interval == 0


@pytest.mark.parametrize("raw", ["-1", "nan", "inf", "hourly"])
def test_a_bad_board_repair_interval_is_invalid_input(raw: str) -> None:
    with pytest.raises(InvalidInput):
        Settings.from_env({"HOTSTORE_BOARD_REPAIR_INTERVAL": raw})


def test_a_board_repair_interval_of_zero_schedules_no_repair_cron() -> None:
    names = {job.name for job in cron_jobs(Settings(namespace="family_a", board_repair_interval=0))}
    assert "hotstore:family_a:board_repair" not in names and "hotstore:family_a:rebuild" in names


def test_worker_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://redis.example:6380/2")
    monkeypatch.setenv("HOTSTORE_NAMESPACE", "env_ns")
    monkeypatch.setenv("HOTSTORE_FLUSH_INTERVAL", "5")

    import workers

    settings_cls = workers.WorkerSettings
    assert settings_cls.queue_name == "arq:hotstore:env_ns"
    assert (settings_cls.redis_settings.host, settings_cls.redis_settings.port) == ("redis.example", 6380)
    assert settings_cls.ctx[SETTINGS].flush_interval == 5
    assert worker_settings_from_env().queue_name == "arq:hotstore:env_ns"


async def test_a_worker_process_refuses_the_embedded_redis() -> None:
    with pytest.raises(InvalidInput, match="REDIS_URL"):
        await startup({SETTINGS: Settings()})


async def test_the_arq_jobs_run_the_same_write_behind_ticks(
    sql_url: str, sql_engine: AsyncEngine, namespace: str
) -> None:
    settings = Settings(database_url=sql_url, redis_url=real_server_url(REDIS_ENV, "Redis"), namespace=namespace)
    ctx: dict[str, object] = {SETTINGS: settings}
    await startup(ctx)
    cycle = ctx[STATE]
    assert isinstance(cycle, WriteBehind)
    await hot_user(cycle.redis, settings.keys, 7, await sql_user(sql_engine, 7), xp=3, version=1)
    row = None
    for _ in range(200):  # the worker's own flush loop writes it (flush_interval 1 s); bounded, not timed
        row = await sql_user_row(sql_engine, 7)
        if row is not None and row.total_xp == 3:
            break
        await asyncio.sleep(0.05)
    await shutdown(ctx)
    cleanup = aioredis.Redis.from_url(settings.redis_url or "")
    await delete_namespace(cleanup, namespace)
    await cleanup.aclose()
    assert row is not None and row.total_xp == 3
    assert STATE not in ctx and FLUSH_LOOP not in ctx


async def test_the_in_process_flusher_enqueues_nothing_on_a_real_redis(
    sql_url: str, namespace: str, sql_engine: AsyncEngine
) -> None:
    url = real_server_url(REDIS_ENV, "Redis")
    settings = Settings(database_url=sql_url, redis_url=url, namespace=namespace)
    async with InProcessFlusher(settings):
        await asyncio.sleep(1.5)  # long enough for an arq worker to have enqueued cron ticks ahead of time
    redis = aioredis.Redis.from_url(url)
    queued = await redis.zcard(queue_name(settings))
    await delete_namespace(redis, namespace)
    await redis.aclose()
    assert queued == 0


async def test_status_shows_which_worker_flushes_how_many_shards(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    state = WriteBehind.open(settings, redis=redis_client, engine=sql_engine)
    before = await state.status()
    await state.flush_tick()
    during = await state.status()
    await state.final_flush()  # a clean stop hands the shards back
    after = await state.status()

    assert (before["flush_workers"], before["unleased_shards"]) == ({}, settings.keys.shards)
    assert (during["flush_workers"], during["unleased_shards"]) == ({state.leases.worker_id: settings.keys.shards}, 0)
    assert (after["flush_workers"], after["unleased_shards"]) == ({}, settings.keys.shards)


async def test_the_rebuild_job_rechecks_the_boards_of_old_take_backs(hot_store: HotStore) -> None:
    bot = hot_store.bot("spin_bot")
    await bot.add_xp(7, 50)
    await bot.add_xp(7, -20)
    keys, member = hot_store.keys, board_member(7)
    await hot_store.redis.zadd(keys.global_board, {member: 50})  # a stale award write after the take-back
    await hot_store.redis.zadd(keys.user_board_recheck(7), {session_member("spin_bot", 7): 1000})  # long ago
    await hot_store.redis.set(keys.boards_built, 1)  # nothing lost: no rebuild, only the recheck
    ctx: dict[str, object] = {STATE: WriteBehind.open(hot_store.settings, redis=hot_store.redis,
                                                      engine=hot_store.engine)}

    assert await rebuild_job(ctx) == 0

    assert await hot_store.redis.zscore(keys.global_board, member) == 30
    assert await hot_store.redis.zcard(keys.user_board_recheck(7)) == 0
