"""Fixtures of the command-line tests: settings on the Redis under test with a fresh SQLite file, and the
matching global flags."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from hotstore.core.redis_client import connect
from hotstore.core.settings import Settings


@pytest.fixture
def cli_settings(redis_url: str | None, namespace: str, tmp_path: Path) -> Iterator[Settings]:
    """Settings on the Redis under test (a namespace of its own) and a fresh SQLite file; keys deleted after."""
    settings = Settings(redis_url=redis_url, namespace=namespace,
                        database_url=f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    yield settings

    async def clean() -> None:
        client: aioredis.Redis = connect(settings)
        async for key in client.scan_iter(match="{" + namespace + "[}:]*", count=1000):
            await client.delete(key)
        await client.aclose()

    asyncio.run(clean())


@pytest.fixture
def cli_flags(cli_settings: Settings) -> list[str]:
    flags = ["--namespace", cli_settings.namespace, "--database-url", cli_settings.database_url]
    return flags + (["--redis-url", cli_settings.redis_url] if cli_settings.redis_url else [])
