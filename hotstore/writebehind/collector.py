"""The write-behind's state in Redis, read at scrape time: dirty backlog per entity, age of the oldest dirty
entry, Redis memory against ``maxmemory``.

One pipeline (ZCARD and the lowest-scored member of each dirty set) plus ``INFO memory``. The same reads serve
``hotstore status`` (async client, :func:`read_redis_state`) and Prometheus (sync client, in the scrape thread,
:class:`RedisStateCollector`). Every worker reports the same fleet-wide values: aggregate them with ``max``,
not ``sum``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from hotstore.core.cluster import RedisClient
from hotstore.core.keys import KeyScheme
from hotstore.writebehind.entities import ENTITIES

log = logging.getLogger(__name__)


@dataclass
class RedisState:
    """Per entity: dirty count and oldest dirty age (s, ``None`` when clean); Redis memory (``None``: unknown)."""

    dirty: dict[str, int] = field(default_factory=dict)
    oldest_age_s: dict[str, float | None] = field(default_factory=dict)
    used_memory: int | None = None
    maxmemory: int | None = None  # 0: no limit


def _queue_backlog(pipe: Any, keys: KeyScheme) -> None:
    """Per entity and shard: ZCARD and the oldest member (two replies each; :func:`_parse_backlog` sums them)."""
    for entity in ENTITIES:
        for shard in keys.all_shards():
            pipe.zcard(entity.dirty_set(keys, shard))
            pipe.zrange(entity.dirty_set(keys, shard), 0, 0, withscores=True)


def _parse_backlog(replies: Sequence[Any], now_ms: float, shards: int) -> RedisState:
    state = RedisState()
    for index, entity in enumerate(ENTITIES):
        part = replies[2 * shards * index:2 * shards * (index + 1)]
        state.dirty[entity.name] = sum(int(count) for count in part[0::2])
        oldest = [float(first[0][1]) for first in part[1::2] if first]
        state.oldest_age_s[entity.name] = max(0.0, (now_ms - min(oldest)) / 1000) if oldest else None
    return state


def _apply_memory(state: RedisState, info: dict[str, Any]) -> None:
    if "used_memory" in info:
        state.used_memory = int(info["used_memory"])
    if "maxmemory" in info:
        state.maxmemory = int(info["maxmemory"])


async def read_redis_state(client: RedisClient, keys: KeyScheme) -> RedisState:
    """The backlog and memory, through an async client (``INFO`` missing, as on fakeredis: memory unknown)."""
    async with client.pipeline(transaction=False) as pipe:
        _queue_backlog(pipe, keys)
        replies = await pipe.execute()
    state = _parse_backlog(replies, time.time() * 1000, keys.shards)
    try:
        _apply_memory(state, await client.info("memory"))
    except redis.ResponseError:
        log.debug("this Redis has no INFO: memory unknown")
    return state


def read_redis_state_sync(client: redis.Redis, keys: KeyScheme) -> RedisState:
    """:func:`read_redis_state` through a synchronous client (the scrape thread's)."""
    with client.pipeline(transaction=False) as pipe:
        _queue_backlog(pipe, keys)
        replies = pipe.execute()
    state = _parse_backlog(replies, time.time() * 1000, keys.shards)
    try:
        _apply_memory(state, client.info("memory"))  # type: ignore[arg-type]  # redis-py types sync|async as a union
    except redis.ResponseError:
        log.debug("this Redis has no INFO: memory unknown")
    return state


class RedisStateCollector(Collector):
    """A Prometheus collector reading :class:`RedisState` at every scrape; ``hotstore_redis_up`` is 0 when
    Redis could not be read (the other families are then left out of that scrape)."""

    def __init__(self, client: redis.Redis, keys: KeyScheme) -> None:
        self.client = client
        self.keys = keys

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The families' names without reading Redis (registering must not need it)."""
        yield GaugeMetricFamily("hotstore_redis_up", "")
        yield from state_families(RedisState(used_memory=0, maxmemory=0))

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            state = read_redis_state_sync(self.client, self.keys)
        except redis.RedisError as exc:
            log.warning("metrics: Redis unreadable: %s: %s", type(exc).__name__, exc)
            yield GaugeMetricFamily("hotstore_redis_up", "1 when this scrape could read Redis.", value=0)
            return
        yield GaugeMetricFamily("hotstore_redis_up", "1 when this scrape could read Redis.", value=1)
        yield from state_families(state)


def state_families(state: RedisState) -> Iterator[GaugeMetricFamily]:
    """The gauge families of one :class:`RedisState`."""
    dirty = GaugeMetricFamily(
        "hotstore_dirty_entities", "Entities written in Redis and not yet flushed to SQL (the backlog).",
        labels=["entity"],
    )
    oldest = GaugeMetricFamily(
        "hotstore_dirty_oldest_age_seconds", "Age of the oldest unflushed write (0 when nothing is dirty).",
        labels=["entity"],
    )
    for name, count in state.dirty.items():
        dirty.add_metric([name], count)
        oldest.add_metric([name], state.oldest_age_s.get(name) or 0.0)
    yield dirty
    yield oldest
    if state.used_memory is not None:
        yield GaugeMetricFamily("hotstore_redis_memory_used_bytes", "Redis used_memory.", value=state.used_memory)
    if state.maxmemory is not None:
        yield GaugeMetricFamily(
            "hotstore_redis_memory_max_bytes", "Redis maxmemory (0: no limit).", value=state.maxmemory
        )
