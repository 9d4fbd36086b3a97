"""Real servers for the tests: which environment variables switch them on, and the helpers that reach them.

Real servers are switched on from outside, by environment:

- ``HOTSTORE_TEST_REDIS_URL``     e.g. ``redis://127.0.0.1:6379/0``
- ``HOTSTORE_TEST_DATABASE_URL``  e.g. ``postgresql://postgres@127.0.0.1:5432/postgres`` (an admin database: each
  test run creates and drops its own database next to it)

Without them the real-server variants are skipped, and the skip reason says which variable to set. With
``CI=true`` a missing variable or an unreachable server is a failure, never a skip.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from hotstore.core.cluster import RedisClient
from persistence.engine import create_engine
from persistence.models import Base

REDIS_ENV = "HOTSTORE_TEST_REDIS_URL"
POSTGRES_ENV = "HOTSTORE_TEST_DATABASE_URL"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def real_server_url(env: str, what: str) -> str:
    """The URL of a real server for a test, or skip (fail in CI) when it is not switched on."""
    url = os.environ.get(env)
    if url:
        return url
    message = f"needs a real {what}: set {env}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: real-server tests must run)")
    pytest.skip(message)


@dataclass
class PostgresDatabase:
    """A throw-away database on the real server, unique to this test process."""

    url: str


def reset_postgres_schema(url: str, *, create_tables: bool = False) -> None:
    """Empty the PostgreSQL database at ``url`` (drop and recreate its public schema), then create every table
    from the models if ``create_tables``. Synchronous: it runs its own event loop, as session fixtures do."""

    async def reset() -> None:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
                if create_tables:
                    await conn.run_sync(Base.metadata.create_all)
        finally:
            await engine.dispose()

    asyncio.run(reset())


async def delete_keys(client: RedisClient, namespace: str) -> None:
    """Delete every key of the test's namespace (never the whole database: other runs share a real Redis)."""
    async for key in client.scan_iter(match="{" + namespace + "[}:]*", count=1000):
        await client.delete(key)
