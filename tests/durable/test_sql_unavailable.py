"""SQL out of reach is StoreUnavailable from every durable service, never a raw DBAPIError: too many clients (on
the wire, SQLSTATE 53300), an exhausted pool, a connection killed in the middle of an operation (issue 12,
finding 8)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core.errors import StoreUnavailable
from hotstore.core.settings import Settings
from hotstore.core.store import HotStore
from hotstore.durable import Badges, Payments, Promocodes, TrainingHistory
from hotstore.durable.base import translated_errors
from persistence.engine import create_engine, create_tables
from tests.support.pg_refusing import too_many_clients_server
from tests.support.servers import PostgresDatabase


async def _store_on(url: str, redis: aioredis.Redis, namespace: str, **engine_args: object) -> HotStore:
    settings = Settings(database_url=url, namespace=namespace)
    return await HotStore.open(settings, redis=redis, engine=create_engine(url, **engine_args))


@pytest.fixture
async def crowded_store(redis_client: aioredis.Redis, namespace: str) -> AsyncIterator[HotStore]:
    """A store whose PostgreSQL refuses every connection: "sorry, too many clients already"."""
    async with too_many_clients_server() as url:
        hot = await _store_on(url, redis_client, namespace)
        yield hot
        await hot.engine.dispose()
        await hot.close()


@pytest.mark.parametrize("call", ["badge", "payment", "promocode", "history"])
async def test_too_many_clients_is_store_unavailable_from_every_durable_service(
    crowded_store: HotStore, call: str
) -> None:
    calls = {
        "badge": lambda: Badges(crowded_store).award(5, "first_win"),
        "payment": lambda: Payments(crowded_store).record(5, provider="yookassa", payment_id="p", amount="1.00",
                                                          tariff="month"),
        "promocode": lambda: Promocodes(crowded_store).get("spring"),
        "history": lambda: TrainingHistory(crowded_store).list(5),
    }
    with pytest.raises(StoreUnavailable, match="too many clients"):
        await calls[call]()


async def test_too_many_clients_is_store_unavailable_on_a_cold_read_through(crowded_store: HotStore) -> None:
    with pytest.raises(StoreUnavailable, match="too many clients"):
        await crowded_store.bot("spin_bot").get_session(5)


async def test_too_many_clients_is_store_unavailable_when_opening_a_store(
    redis_client: aioredis.Redis, namespace: str
) -> None:
    async with too_many_clients_server() as url:
        with pytest.raises(StoreUnavailable, match="too many clients"):
            await HotStore.open(Settings(database_url=url, namespace=namespace), redis=redis_client)


@pytest.fixture
async def pool_of_one(postgres_database: PostgresDatabase) -> AsyncIterator[AsyncEngine]:
    """An engine on the test database with one connection and a short wait for it."""
    engine = create_engine(postgres_database.url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    await create_tables(engine)
    yield engine
    await engine.dispose()


@pytest.mark.postgres
async def test_an_exhausted_pool_is_store_unavailable(
    pool_of_one: AsyncEngine, redis_client: aioredis.Redis, namespace: str
) -> None:
    store = HotStore(Settings(database_url=pool_of_one.url.render_as_string(False), namespace=namespace),
                     redis_client, pool_of_one)
    async with pool_of_one.connect() as held:  # the only connection, held by someone else
        await held.execute(text("SELECT 1"))
        with pytest.raises(StoreUnavailable):
            await Badges(store).award(5, "first_win")
        with pytest.raises(StoreUnavailable):
            await store.bot("spin_bot").get_session(5)


@pytest.mark.postgres
async def test_a_connection_killed_in_the_middle_of_an_operation_is_store_unavailable(
    postgres_database: PostgresDatabase,
) -> None:
    engine = create_engine(postgres_database.url, pool_size=1, max_overflow=0)
    killer = create_engine(postgres_database.url, isolation_level="AUTOCOMMIT")
    try:
        with pytest.raises(StoreUnavailable):
            async with translated_errors(), engine.connect() as conn:
                pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                sleeping = asyncio.ensure_future(conn.execute(text("SELECT pg_sleep(30)")))
                async with killer.connect() as admin:  # the test database's own backend, nothing else
                    await asyncio.sleep(0.2)
                    await admin.execute(text("SELECT pg_terminate_backend(:pid) FROM pg_stat_activity "
                                             "WHERE pid = :pid AND datname = current_database()"), {"pid": pid})
                await sleeping
    finally:
        await engine.dispose()
        await killer.dispose()
