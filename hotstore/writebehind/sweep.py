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
from hotstore.core.scripts import SWEEP_IDLE, Scripts
from hotstore.core.settings import Settings


def _user_member(key: str, prefix: str) -> str:
    return key[len(prefix) :]  # '{hs}:u:42' -> '42'


def _session_member(key: str, prefix: str) -> str:
    return key[len(prefix) :]  # '{hs}:s:spin_bot:42' -> 'spin_bot:42', the dirty-sessions member


async def sweep_idle(redis: RedisClient, settings: Settings, *, scan_count: int = c.SWEEP_SCAN_COUNT) -> int:
    """Give the idle TTL to every clean user, session and document hash without one; return how many got it."""
    keys = settings.keys
    scripts = Scripts(redis)
    kinds: list[tuple[str, str, str, Callable[[str, str], str]]] = [
        (keys.user_pattern, f"{keys.tag}:u:", keys.dirty_users, _user_member),
        (keys.session_pattern, f"{keys.tag}:s:", keys.dirty_sessions, _session_member),
        (keys.document_pattern, f"{keys.tag}:d:", keys.dirty_documents, _session_member),  # '<bot>:<key>'
    ]
    expired = 0
    for pattern, prefix, dirty_set, member_of in kinds:
        chunk: list[str] = []
        async for raw in redis.scan_iter(match=pattern, count=scan_count):
            chunk.append(raw.decode() if isinstance(raw, bytes) else raw)
            if len(chunk) >= scan_count:
                expired += await _sweep_chunk(scripts, settings, dirty_set, chunk, prefix, member_of)
                chunk = []
        if chunk:
            expired += await _sweep_chunk(scripts, settings, dirty_set, chunk, prefix, member_of)
    return expired


async def _sweep_chunk(
    scripts: Scripts,
    settings: Settings,
    dirty_set: str,
    chunk: list[str],
    prefix: str,
    member_of: Callable[[str, str], str],
) -> int:
    members = [member_of(key, prefix) for key in chunk]
    result = await scripts.call(SWEEP_IDLE, [dirty_set, *chunk], [settings.idle_ttl * 1000, *members])
    return int(result)
