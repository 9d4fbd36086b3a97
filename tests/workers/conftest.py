"""Fixtures of the fault tests with real worker processes: they need the real Redis and PostgreSQL, no axis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core.cluster import RedisClient, connect_cluster
from persistence.engine import create_engine
from tests.support.cluster import FaultRedis
from tests.support.hot_entities import delete_namespace
from tests.support.servers import REDIS_ENV, PostgresDatabase, real_server_url, reset_postgres_schema


@pytest.fixture
def real_redis_url() -> str:
    """The URL of the real Redis (skipped, or failed in CI, when it is not switched on)."""
    return real_server_url(REDIS_ENV, "Redis")


@pytest.fixture
def pg_url(postgres_database: PostgresDatabase) -> str:
    """The throw-away PostgreSQL database with a fresh schema (sync: the conftest fixture runs its own loop)."""
    reset_postgres_schema(postgres_database.url, create_tables=True)
    return postgres_database.url


@pytest.fixture
async def pg_engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on ``pg_url``."""
    engine = create_engine(pg_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def real_redis(real_redis_url: str, namespace: str) -> AsyncIterator[aioredis.Redis]:
    """A client on the real Redis; the namespace's keys and its arq keys are deleted afterwards."""
    client = aioredis.Redis.from_url(real_redis_url)
    yield client
    await delete_namespace(client, namespace)
    await client.aclose()


@pytest.fixture(params=["real", pytest.param("cluster", marks=pytest.mark.cluster)])
def fault_redis(request: pytest.FixtureRequest) -> FaultRedis:
    """The real Redis, or the local Redis Cluster with arq's queue on the real Redis."""
    real = real_server_url(REDIS_ENV, "Redis")
    if request.param == "real":
        return FaultRedis(real)
    cluster_url: str = request.getfixturevalue("redis_cluster_url")
    return FaultRedis(cluster_url, {"HOTSTORE_ARQ_REDIS_URL": real}, arq_url=real)


@pytest.fixture
async def fault_redis_client(fault_redis: FaultRedis, namespace: str) -> AsyncIterator[RedisClient]:
    """A client on ``fault_redis``; the namespace's keys (and its arq keys, wherever arq ran) deleted after."""
    client: RedisClient
    client = aioredis.Redis.from_url(fault_redis.url) if fault_redis.arq_url is None else connect_cluster(
        fault_redis.url)
    yield client
    await delete_namespace(client, namespace)
    await client.aclose()
    if fault_redis.arq_url is not None:
        arq = aioredis.Redis.from_url(fault_redis.arq_url)
        await delete_namespace(arq, namespace)
        await arq.aclose()
