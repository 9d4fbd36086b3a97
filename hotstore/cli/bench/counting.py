"""Round-trip counters: a Redis connection that counts what it sends, and SQL statement events.

A Redis round trip is one ``send_packed_command`` or ``write_packed`` (a single command, or a whole pipeline). An
SQL round trip is one statement sent to the driver, plus each ``BEGIN`` and ``COMMIT``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import Connection
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core.autopipeline import FastPackConnection


@dataclass
class RoundTrips:
    """A mutable count shared by every connection of a pool (or by an engine's listeners)."""

    count: int = 0

    def __call__(self) -> int:
        return self.count


class CountingConnection(Connection):
    """A redis-py connection that adds one to ``counter`` per packet of commands it sends."""

    def __init__(self, *, counter: RoundTrips | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._counter = counter if counter is not None else RoundTrips()

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        self._counter.count += 1
        await super().send_packed_command(command, check_health)


class CountingFastPackConnection(CountingConnection, FastPackConnection):
    """Counting, and packing with hiredis (the auto-pipelined row's connection, whose batches are written by
    :meth:`FastPackConnection.write_packed`)."""

    def write_packed(self, packet: list[bytes]) -> None:
        self._counter.count += 1
        super().write_packed(packet)


def counting_redis(
    url: str, counter: RoundTrips, *, client_class: type[aioredis.Redis] = aioredis.Redis, fast_pack: bool = False
) -> Any:
    """A client on ``url`` whose connections count into ``counter`` (bytes responses, like hotstore's)."""
    connection_class = CountingFastPackConnection if fast_pack else CountingConnection
    pool = aioredis.ConnectionPool.from_url(url, connection_class=connection_class, counter=counter)
    return client_class(connection_pool=pool)


def count_sql(engine: AsyncEngine, counter: RoundTrips) -> None:
    """Count every statement, ``BEGIN`` and ``COMMIT`` that ``engine`` sends."""

    def on_statement(*_args: Any) -> None:
        counter.count += 1

    sync = engine.sync_engine
    event.listen(sync, "before_cursor_execute", on_statement)
    event.listen(sync, "begin", on_statement)
    event.listen(sync, "commit", on_statement)
