"""Opt-in hot-path metrics: ``HotStore.open(..., metrics=registry)`` counts and times every call; without it the
store's methods are the plain ones (nothing wraps them)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core.errors import InvalidInput
from hotstore.core.leaderboard import Leaderboards
from hotstore.core.sessions import BotStore
from hotstore.core.settings import Settings
from hotstore.core.store import HotStore


@pytest.fixture
def settings(sql_url: str, namespace: str) -> Settings:
    return Settings(database_url=sql_url, namespace=namespace)


@pytest.fixture
async def plain_store(settings: Settings, redis_client: aioredis.Redis, sql_engine: AsyncEngine) -> HotStore:
    return await HotStore.open(settings, redis=redis_client, engine=sql_engine)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def timed_store(settings: Settings, redis_client: aioredis.Redis, sql_engine: AsyncEngine,
                      registry: CollectorRegistry) -> AsyncIterator[HotStore]:
    yield await HotStore.open(settings, redis=redis_client, engine=sql_engine, metrics=registry)


def calls(registry: CollectorRegistry, call: str, outcome: str = "ok") -> float:
    return registry.get_sample_value("hotstore_store_calls_total", {"call": call, "outcome": outcome}) or 0.0


def timed(registry: CollectorRegistry, call: str) -> float:
    return registry.get_sample_value("hotstore_store_call_duration_seconds_count", {"call": call}) or 0.0


async def test_without_metrics_the_store_methods_are_the_plain_ones(plain_store: HotStore) -> None:
    bot = plain_store.bot("quiz_bot")

    assert plain_store.get_user.__func__ is HotStore.get_user  # type: ignore[attr-defined]
    assert plain_store.bot.__func__ is HotStore.bot  # type: ignore[attr-defined]
    assert type(bot) is BotStore
    assert bot.add_xp.__func__ is BotStore.add_xp  # type: ignore[attr-defined]
    assert plain_store.leaderboards.page.__func__ is Leaderboards.page  # type: ignore[attr-defined]
    assert not {"get_user", "user_id", "ensure_user", "bot"} & set(vars(plain_store))


async def test_each_call_is_counted_and_timed_under_its_name(timed_store: HotStore,
                                                             registry: CollectorRegistry) -> None:
    bot = timed_store.bot("quiz_bot")

    await bot.get_session(42, username="анна")
    await bot.add_xp(42, 10)
    await bot.add_xp(42, 5)
    await bot.patch_session(42, incr_session={"question_count": 1})
    await timed_store.leaderboards.page(limit=5)

    assert [calls(registry, name) for name in ("get_session", "add_xp", "patch_session", "page")] == [1, 2, 1, 1]
    assert [timed(registry, name) for name in ("get_session", "add_xp", "patch_session", "page")] == [1, 2, 1, 1]


async def test_a_refused_call_counts_as_invalid_and_is_still_timed(timed_store: HotStore,
                                                                   registry: CollectorRegistry) -> None:
    with pytest.raises(InvalidInput):
        await timed_store.bot("quiz_bot").add_xp(42, 10**15)

    assert (calls(registry, "add_xp", "invalid"), calls(registry, "add_xp", "ok")) == (1, 0)
    assert timed(registry, "add_xp") == 1


async def test_store_level_calls_are_counted(timed_store: HotStore, registry: CollectorRegistry) -> None:
    await timed_store.ensure_user(7, username="ivan")
    assert await timed_store.get_user(7) is not None

    assert (calls(registry, "ensure_user"), calls(registry, "get_user")) == (1, 1)


async def test_a_timed_bot_handle_is_still_a_bot_store(timed_store: HotStore) -> None:
    bot = timed_store.bot("quiz_bot")

    assert isinstance(bot, BotStore)
    assert bot.name == "quiz_bot"
    assert bot.add_xp.__name__ == "add_xp"


async def test_two_stores_share_one_registry(settings: Settings, redis_client: aioredis.Redis,
                                             sql_engine: AsyncEngine, registry: CollectorRegistry) -> None:
    first = await HotStore.open(settings, redis=redis_client, engine=sql_engine, metrics=registry)
    second = await HotStore.open(settings, redis=redis_client, engine=sql_engine, metrics=registry)

    await first.bot("a_bot").get_session(1)
    await second.bot("b_bot").get_session(2)

    assert calls(registry, "get_session") == 2


async def test_metrics_true_counts_into_the_default_registry(settings: Settings, redis_client: aioredis.Redis,
                                                             sql_engine: AsyncEngine) -> None:
    store = await HotStore.open(settings, redis=redis_client, engine=sql_engine, metrics=True)
    before = calls(REGISTRY, "get_session")

    await store.bot("quiz_bot").get_session(3)

    assert calls(REGISTRY, "get_session") - before == 1


async def test_an_invalid_metrics_argument_is_refused(settings: Settings, redis_client: aioredis.Redis,
                                                      sql_engine: AsyncEngine) -> None:
    with pytest.raises(InvalidInput, match="CollectorRegistry"):
        await HotStore.open(settings, redis=redis_client, engine=sql_engine, metrics="yes")  # type: ignore[arg-type]


async def test_the_exposition_parses_with_conventional_names(timed_store: HotStore,
                                                             registry: CollectorRegistry) -> None:
    await timed_store.bot("quiz_bot").get_session(4)

    families = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}

    assert families["hotstore_store_calls"].type == "counter"
    assert families["hotstore_store_call_duration_seconds"].type == "histogram"
    counted = {(s.labels["call"], s.labels["outcome"]): s.value for s in families["hotstore_store_calls"].samples
               if s.name == "hotstore_store_calls_total"}
    assert counted[("get_session", "ok")] == 1
    assert counted[("add_xp", "ok")] == 0  # every call's series exists from the start
