"""Prometheus metrics of the write-behind: what the flush counts into this process's instruments, what the
scrape-time collector reads from Redis, and the naming conventions of every family."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import fakeredis
import pytest
import redis
import redis.asyncio as aioredis
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core import constants as c
from hotstore.core.keys import KeyScheme
from hotstore.writebehind import telemetry
from hotstore.writebehind.collector import RedisStateCollector, read_redis_state
from hotstore.writebehind.entities import USERS
from hotstore.writebehind.flush import drain, flush_batch
from hotstore.writebehind.metrics import read_metrics, record_conflicts, record_refused
from hotstore.writebehind.rebuild import rebuild_boards_if_lost
from persistence.engine import create_engine
from tests.support.hot_entities import T0_MS, delete_namespace, hot_session, hot_user, settings_for, sql_user

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"
UNREACHABLE_PG = "postgresql://postgres@127.0.0.1:9/none"  # port 9 (discard): nothing listens


def sample(name: str, **labels: str) -> float:
    """A sample of the default registry (0 when the series does not exist yet)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def pair(redis_url: str | None, namespace: str) -> AsyncIterator[tuple[aioredis.Redis, redis.Redis]]:
    """An async and a sync client on the same Redis (one fakeredis server, or the real test Redis)."""
    if redis_url is None:
        server = fakeredis.FakeServer()
        async_client: aioredis.Redis = fakeredis.FakeAsyncRedis(server=server)
        sync_client: redis.Redis = fakeredis.FakeRedis(server=server)
    else:
        async_client, sync_client = aioredis.Redis.from_url(redis_url), redis.Redis.from_url(redis_url)
    yield async_client, sync_client
    await delete_namespace(async_client, namespace)
    await async_client.aclose()
    sync_client.close()


def scrape(collector: RedisStateCollector) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Register ``collector`` alone, render the text format, parse it back: {family: {labels: value}}."""
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {family.name: {tuple(sorted(s.labels.items())): s.value for s in family.samples}
            for family in text_string_to_metric_families(text)}


# ---------------------------------------------------------------- the flush's instruments


async def test_a_flushed_batch_counts_its_rows_and_its_latency(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    for tg in (1, 2, 3):
        await hot_user(redis_client, settings.keys, tg, await sql_user(sql_engine, tg), xp=tg, version=1)
    rows, batches = sample("hotstore_flush_rows_total", entity="users"), sample(
        "hotstore_flush_batch_duration_seconds_count", entity="users")

    totals = await flush_batch(redis_client, sql_engine, settings, USERS)

    assert totals.rows == 3
    assert sample("hotstore_flush_rows_total", entity="users") - rows == 3
    assert sample("hotstore_flush_batch_duration_seconds_count", entity="users") - batches == 1


async def test_an_empty_batch_is_not_timed(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    before = sample("hotstore_flush_batch_duration_seconds_count", entity="users")

    await flush_batch(redis_client, sql_engine, settings_for(sql_url, namespace), USERS)

    assert sample("hotstore_flush_batch_duration_seconds_count", entity="users") == before


async def test_a_batch_that_cannot_reach_sql_counts_an_outage(redis_client: aioredis.Redis, namespace: str) -> None:
    engine = create_engine(UNREACHABLE_PG)
    settings = settings_for(UNREACHABLE_PG, namespace)
    await hot_user(redis_client, settings.keys, 1, 1, xp=1, version=1)
    before = sample("hotstore_flush_failures_total", kind="outage")

    with pytest.raises(Exception):  # noqa: B017  (whatever the driver raises: the flush propagates it)
        await flush_batch(redis_client, engine, settings, USERS)
    await engine.dispose()

    assert sample("hotstore_flush_failures_total", kind="outage") - before == 1


async def test_rows_sql_refuses_are_counted_in_redis_and_in_prometheus(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    settings = settings_for(sql_url, namespace)
    await hot_session(redis_client, settings.keys, "spin_bot", 2, 999_999, session={}, stats={}, xp=1, version=1)
    before = sample("hotstore_flush_failures_total", kind="refused_row")

    totals = await drain(redis_client, sql_engine, settings)

    assert totals.rejected == 1
    assert (await read_metrics(redis_client, settings.keys))[c.METRIC_REFUSED_ROWS] == 1
    assert sample("hotstore_flush_failures_total", kind="refused_row") - before == 1


async def test_record_refused_adds_to_the_redis_hash_and_the_counter(redis_client: aioredis.Redis,
                                                                     namespace: str) -> None:
    keys = KeyScheme(namespace)
    before = sample("hotstore_flush_failures_total", kind="refused_row")

    await record_refused(redis_client, keys, 2)
    await record_refused(redis_client, keys, 3)

    assert (await read_metrics(redis_client, keys))[c.METRIC_REFUSED_ROWS] == 5
    assert sample("hotstore_flush_failures_total", kind="refused_row") - before == 5


async def test_record_conflicts_adds_to_the_redis_hash_and_the_counter(redis_client: aioredis.Redis,
                                                                       namespace: str) -> None:
    keys = KeyScheme(namespace)
    before = sample("hotstore_flush_version_conflicts_total")

    await record_conflicts(redis_client, keys, 4)

    assert (await read_metrics(redis_client, keys))[c.METRIC_VERSION_CONFLICTS] == 4
    assert sample("hotstore_flush_version_conflicts_total") - before == 4


async def test_recording_zero_refusals_writes_nothing(redis_client: aioredis.Redis, namespace: str) -> None:
    keys = KeyScheme(namespace)

    await record_refused(redis_client, keys, 0)

    assert await redis_client.exists(keys.metrics) == 0


async def test_a_board_rebuild_is_counted(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, sql_url: str, namespace: str
) -> None:
    before = sample("hotstore_board_rebuilds_total")

    report = await rebuild_boards_if_lost(redis_client, sql_engine, settings_for(sql_url, namespace))

    assert report is not None
    assert sample("hotstore_board_rebuilds_total") - before == 1


def test_a_successful_flush_sets_the_last_success_gauge() -> None:
    telemetry.flush_succeeded(now=1_700_000_000.0)

    assert sample("hotstore_flush_last_success_timestamp_seconds") == 1_700_000_000.0
    assert telemetry.last_success() == 1_700_000_000.0


# ---------------------------------------------------------------- the Redis collector


async def test_redis_state_reads_the_backlog_and_the_oldest_age(
    pair: tuple[aioredis.Redis, redis.Redis], namespace: str
) -> None:
    async_client, _ = pair
    keys = KeyScheme(namespace)
    for tg in (1, 2):
        await hot_user(async_client, keys, tg, tg, xp=1, version=1, score_ms=T0_MS)

    state = await read_redis_state(async_client, keys)

    assert state.dirty == {"users": 2, "sessions": 0, "documents": 0}
    assert state.oldest_age_s["users"] is not None and state.oldest_age_s["users"] > 0
    assert state.oldest_age_s["sessions"] is None


async def test_the_collector_exposes_backlog_and_oldest_age_per_entity(
    pair: tuple[aioredis.Redis, redis.Redis], namespace: str
) -> None:
    async_client, sync_client = pair
    keys = KeyScheme(namespace)
    await hot_user(async_client, keys, 1, 1, xp=1, version=1)

    families = scrape(RedisStateCollector(sync_client, keys))

    assert families["hotstore_redis_up"] == {(): 1.0}
    assert families["hotstore_dirty_entities"] == {
        (("entity", "users"),): 1.0, (("entity", "sessions"),): 0.0, (("entity", "documents"),): 0.0,
    }
    assert families["hotstore_dirty_oldest_age_seconds"][(("entity", "users"),)] > 0
    assert families["hotstore_dirty_oldest_age_seconds"][(("entity", "sessions"),)] == 0


@pytest.mark.redis
def test_the_collector_exposes_redis_memory_against_maxmemory(namespace: str) -> None:
    from tests.support.servers import REDIS_ENV, real_server_url

    client = redis.Redis.from_url(real_server_url(REDIS_ENV, "Redis"))
    try:
        families = scrape(RedisStateCollector(client, KeyScheme(namespace)))
    finally:
        client.close()

    assert families["hotstore_redis_memory_used_bytes"][()] > 0
    assert families["hotstore_redis_memory_max_bytes"][()] >= 0  # 0: no maxmemory


def test_an_unreachable_redis_scrapes_as_redis_down_not_as_an_error(namespace: str) -> None:
    client = redis.Redis.from_url(UNREACHABLE_REDIS, socket_connect_timeout=1)

    families = scrape(RedisStateCollector(client, KeyScheme(namespace)))
    client.close()

    assert families["hotstore_redis_up"] == {(): 0.0}
    assert "hotstore_dirty_entities" not in families


class _NoRedis:
    """A client that fails the test when used."""

    def __getattr__(self, name: str) -> None:
        raise AssertionError(f"Redis was used: {name}")


def test_registering_the_collector_does_not_read_redis(namespace: str) -> None:
    registry = CollectorRegistry()

    registry.register(RedisStateCollector(_NoRedis(), KeyScheme(namespace)))  # type: ignore[arg-type]

    with pytest.raises(ValueError, match="Duplicated"):  # describe() gave its names: a second one collides
        registry.register(RedisStateCollector(_NoRedis(), KeyScheme(namespace)))  # type: ignore[arg-type]


# ---------------------------------------------------------------- conventions


@pytest.fixture
def every_family() -> Iterator[list[tuple[str, str, list[str]]]]:
    """(family, type, sample names) of every hotstore family: the instruments and the collector's."""
    registry = CollectorRegistry()
    registry.register(RedisStateCollector(fakeredis.FakeRedis(server=fakeredis.FakeServer()), KeyScheme("conv")))
    texts = generate_latest(REGISTRY).decode() + generate_latest(registry).decode()
    yield [(f.name, f.type, [s.name for s in f.samples]) for f in text_string_to_metric_families(texts)
           if f.name.startswith("hotstore") and not f.name.endswith("_created")]  # _created: the client's own


def test_every_family_has_the_hotstore_prefix_and_a_snake_case_name(
    every_family: list[tuple[str, str, list[str]]]
) -> None:
    names = {name for name, _, _ in every_family}
    assert {"hotstore_flush_rows", "hotstore_flush_failures", "hotstore_flush_version_conflicts",
            "hotstore_board_rebuilds", "hotstore_flush_batch_duration_seconds", "hotstore_dirty_entities",
            "hotstore_dirty_oldest_age_seconds", "hotstore_redis_up"} <= names
    assert all(name.startswith("hotstore_") and name == name.lower() for name in names)


def test_counters_end_in_total_and_times_are_in_seconds(every_family: list[tuple[str, str, list[str]]]) -> None:
    for name, kind, samples in every_family:
        if kind == "counter":
            assert all(s.endswith(("_total", "_created")) for s in samples), name
        if any(word in name for word in ("duration", "age", "timestamp")):
            assert name.endswith("_seconds"), name
        if "memory" in name:
            assert name.endswith("_bytes"), name



def test_the_readme_lists_every_metric(every_family: list[tuple[str, str, list[str]]]) -> None:
    from pathlib import Path

    from hotstore.core.telemetry import CallMetrics

    registry = CollectorRegistry()
    CallMetrics(registry)  # the bot-side families
    store_families = [(f.name, f.type) for f in text_string_to_metric_families(generate_latest(registry).decode())
                      if not f.name.endswith("_created")]
    described = [(f.name, f.type) for f in RedisStateCollector(_NoRedis(), KeyScheme("r")).describe()]  # type: ignore[arg-type]
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    names = {name + ("_total" if kind == "counter" else "")
             for name, kind in [*((n, k) for n, k, _ in every_family), *store_families, *described]}

    assert len(names) >= 13
    assert [name for name in sorted(names) if f"`{name}`" not in readme] == []
