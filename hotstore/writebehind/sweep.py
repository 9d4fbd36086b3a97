"""Idle sweep: clean entities (users, sessions, documents) without a TTL get the idle TTL, so idle ones leave Redis.

Normally every clean entity already has a TTL (compare-and-clean and read-through set it). Some do not:
entities written by an older version of the code, restored from a dump, or PERSISTed by an operator. The
sweep scans user and session hashes and, atomically per key, gives the idle TTL to those with no TTL that
are not dirty. A dirty entity is never given a TTL (invariant 4).
"""

from __future__ import annotations

from collections.abc import Callable

from hotstore.core import constants as c
from hotstore.core.cluster import RedisClient
from hotstore.core.keys import KeyScheme
from hotstore.core.scripts import SWEEP_IDLE, Scripts
from hotstore.core.settings import Settings

# A kind of entity hash: its SCAN pattern, how a key gives (shard, dirty member), its dirty set of a shard.
Kind = tuple[str, Callable[[str], tuple[int, str] | None], Callable[[int], str]]


def entity_kinds(keys: KeyScheme) -> list[Kind]:
    """Users, sessions and documents: each kind's pattern, key parser and per-shard dirty set."""
    return [
        (keys.user_pattern, keys.parse_user, keys.dirty_users),
        (keys.session_pattern, keys.parse_session, keys.dirty_sessions),
        (keys.document_pattern, keys.parse_document, keys.dirty_documents),
    ]


async def sweep_idle(redis: RedisClient, settings: Settings, *, scan_count: int = c.SWEEP_SCAN_COUNT) -> int:
    """Give the idle TTL to every clean user, session and document hash without one; return how many got it."""
    scripts = Scripts(redis)
    expired = 0
    for pattern, parse, dirty_set in entity_kinds(settings.keys):
        by_shard: dict[int, list[tuple[str, str]]] = {}
        async for raw in redis.scan_iter(match=pattern, count=scan_count):
            key = raw.decode() if isinstance(raw, bytes) else raw
            found = parse(key)
            if found is None:
                continue
            shard, member = found
            chunk = by_shard.setdefault(shard, [])
            chunk.append((key, member))
            if len(chunk) >= scan_count:
                expired += await _sweep_chunk(scripts, settings, dirty_set(shard), chunk)
                chunk.clear()
        for shard, chunk in by_shard.items():
            if chunk:
                expired += await _sweep_chunk(scripts, settings, dirty_set(shard), chunk)
    return expired


async def _sweep_chunk(scripts: Scripts, settings: Settings, dirty_set: str, chunk: list[tuple[str, str]]) -> int:
    hashes = [key for key, _ in chunk]
    members = [member for _, member in chunk]
    result = await scripts.call(SWEEP_IDLE, [dirty_set, *hashes], [settings.idle_ttl * 1000, *members])
    return int(result)
