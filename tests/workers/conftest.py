"""Fixtures of the fault tests with real worker processes: they need the real Redis and PostgreSQL, no axis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence.engine import create_engine
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
