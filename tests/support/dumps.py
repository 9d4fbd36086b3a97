"""Snapshots for "a refused call writes nothing": every key of a namespace, every row of every table."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, cast

import redis.asyncio as aioredis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence.models import Base


async def redis_dump(client: aioredis.Redis, namespace: str) -> dict[bytes, Any]:
    """Every key of the namespace with its value and whether it has a TTL (dirty keys have none)."""
    state: dict[bytes, Any] = {}
    async for key in client.scan_iter(match="{" + namespace + "[}:]*", count=1000):
        kind = await client.type(key)
        if kind == b"hash":
            value: Any = await cast(Awaitable[dict[bytes, bytes]], client.hgetall(key))
        elif kind == b"zset":
            value = await client.zrange(key, 0, -1, withscores=True)
        else:
            value = await client.get(key)
        state[key] = (kind, value, await client.pttl(key) > 0)
    return state


async def sql_dump(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    """All rows of every table of the models, in primary-key order."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    async with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = await conn.execute(select(table).order_by(*table.primary_key.columns))
            tables[table.name] = [tuple(row) for row in rows]
    return tables
