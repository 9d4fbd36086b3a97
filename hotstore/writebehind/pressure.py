"""Memory pressure: when Redis nears ``maxmemory``, evict clean idle entities early so that writes resume.

Under ``noeviction`` a full Redis refuses every memory-growing write (:class:`~hotstore.core.errors.StoreFull`),
and clean entities keep their idle TTL (a day by default) before leaving by themselves. Above
:data:`~hotstore.core.constants.MEMORY_PRESSURE_HIGH` of ``maxmemory``, :func:`relieve_pressure` deletes clean
users and sessions that have an idle TTL, least TTL left first (the longest idle), until used memory is below
:data:`~hotstore.core.constants.MEMORY_PRESSURE_TARGET`. Every one of them is in SQL and is loaded back on its next
use. Dirty entities have no TTL and are never evicted (invariant 4; ``evict_clean.lua`` checks both atomically)::

    usage = await memory_usage(redis)
    if usage and usage.fraction >= c.MEMORY_PRESSURE_HIGH:
        evicted = await relieve_pressure(redis, settings)
"""

from __future__ import annotations

import heapq
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from hotstore.core import constants as c
from hotstore.core.cluster import RedisClient
from hotstore.core.redis_config import is_embedded
from hotstore.core.scripts import EVICT_CLEAN, Scripts
from hotstore.core.settings import Settings

MAX_ROUNDS = 100


@dataclass(frozen=True)
class MemoryUsage:
    used: int
    maxmemory: int

    @property
    def fraction(self) -> float:
        return self.used / self.maxmemory


async def memory_usage(redis: RedisClient) -> MemoryUsage | None:
    """Used memory and ``maxmemory`` from ``INFO memory``; None without a limit (or on the embedded fakeredis)."""
    if is_embedded(redis):
        return None
    info = await redis.info("memory")
    maxmemory = int(info.get("maxmemory", 0) or 0)
    if maxmemory <= 0:
        return None
    return MemoryUsage(int(info["used_memory"]), maxmemory)


@dataclass(frozen=True)
class _Kind:
    pattern: str
    parse: Callable[[str], tuple[int, str] | None]  # key -> (shard, dirty member)
    dirty_set: Callable[[int], str]


def _kinds(settings: Settings) -> tuple[_Kind, _Kind]:
    keys = settings.keys
    return (_Kind(keys.user_pattern, keys.parse_user, keys.dirty_users),
            _Kind(keys.session_pattern, keys.parse_session, keys.dirty_sessions))


async def _with_ttl(redis: RedisClient, kind: _Kind, index: int) -> AsyncIterator[tuple[int, int, str]]:
    """(ms of idle TTL left, kind index, key) of every entity of ``kind`` that has a TTL."""
    chunk: list[str] = []

    async def ttls() -> list[tuple[int, int, str]]:
        async with redis.pipeline(transaction=False) as pipe:
            for key in chunk:
                pipe.pttl(key)
            replies = await pipe.execute()
        return [(int(ttl), index, key) for key, ttl in zip(chunk, replies, strict=True) if int(ttl) > 0]

    async for raw in redis.scan_iter(match=kind.pattern, count=c.SWEEP_SCAN_COUNT):
        chunk.append(raw.decode() if isinstance(raw, bytes) else raw)
        if len(chunk) >= c.SWEEP_SCAN_COUNT:
            for item in await ttls():
                yield item
            chunk = []
    if chunk:
        for item in await ttls():
            yield item


async def _candidates(redis: RedisClient, kinds: tuple[_Kind, _Kind], limit: int) -> list[tuple[int, int, str]]:
    """The ``limit`` entities with the least idle TTL left, over both kinds, least first."""
    heap: list[tuple[int, int, str]] = []  # max-heap by TTL (negated), bounded to ``limit``
    for index, kind in enumerate(kinds):
        async for ttl, kind_index, key in _with_ttl(redis, kind, index):
            item = (-ttl, kind_index, key)
            if len(heap) < limit:
                heapq.heappush(heap, item)
            elif item > heap[0]:
                heapq.heapreplace(heap, item)
    return sorted(((-ttl, kind_index, key) for ttl, kind_index, key in heap))


async def relieve_pressure(
    redis: RedisClient, settings: Settings, *, target: float = c.MEMORY_PRESSURE_TARGET,
    round_size: int = c.PRESSURE_EVICT_ROUND, chunk: int = c.PRESSURE_EVICT_CHUNK,
) -> int:
    """Evict clean idle entities, longest idle first, until used memory is below ``target`` × maxmemory (or
    nothing clean is left); return how many were evicted."""
    scripts = Scripts(redis)
    kinds = _kinds(settings)
    evicted = 0
    for _ in range(MAX_ROUNDS):
        usage = await memory_usage(redis)
        if usage is None or usage.fraction < target:
            return evicted
        candidates = await _candidates(redis, kinds, round_size)
        if not candidates:
            return evicted
        round_evicted = 0
        for start in range(0, len(candidates), chunk):
            part = candidates[start:start + chunk]
            for index, kind in enumerate(kinds):
                by_shard: dict[int, tuple[list[str], list[str]]] = {}
                for _, kind_index, key in part:
                    found = kind.parse(key) if kind_index == index else None
                    if found is not None:
                        hashes, members = by_shard.setdefault(found[0], ([], []))
                        hashes.append(key)
                        members.append(found[1])
                for shard, (hashes, members) in by_shard.items():
                    round_evicted += int(await scripts.call(EVICT_CLEAN, [kind.dirty_set(shard), *hashes], members))
            usage = await memory_usage(redis)
            if usage is None or usage.fraction < target:
                return evicted + round_evicted
        evicted += round_evicted
        if round_evicted == 0:
            return evicted
    return evicted
