"""Fixtures of the framework integration tests: a hot store on each Redis backend (fakeredis, real) and SQL backend
(SQLite, PostgreSQL), from the shared fixtures of tests/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore import HotStore, Settings


@pytest.fixture
async def hot_store(sql_engine: AsyncEngine, sql_url: str, redis_client: aioredis.Redis,
                    namespace: str) -> AsyncIterator[HotStore]:
    """A store on the Redis and SQL backends under test, in the test's own namespace."""
    store = await HotStore.open(Settings(database_url=sql_url, namespace=namespace), redis=redis_client,
                                engine=sql_engine)
    yield store
    await store.close()
