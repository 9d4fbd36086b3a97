"""Helpers of the memory-pressure tests (no tests here): fill a private Redis with clean entities, then make it full.

A private server (fixture ``private_redis``) is filled through the store with users and sessions that the
write-behind then flushes (clean, with the idle TTL); :func:`make_full` lowers ``maxmemory`` below what is in use,
so Redis refuses every memory-growing write until something is evicted.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from hotstore.core.keys import board_member, session_member
from hotstore.core.store import HotStore
from hotstore.writebehind.runner import WriteBehind
from tests.support.dirty import dirty_score

FILLER_TG = 8_000_000_000
DOCUMENT_BYTES = 2_000


async def fill_with_clean_sessions(store: HotStore, cycle: WriteBehind, users: int, *, bot: str = "spin_bot") -> None:
    """``users`` users with a ~2 kB session each, flushed to SQL: clean, each with the idle TTL."""
    for i in range(users):
        await store.bot(bot).save_session(FILLER_TG + i, {"blob": "x" * DOCUMENT_BYTES, "i": i})
    await cycle.flush_everything()


async def used_memory(client: aioredis.Redis) -> int:
    info: dict[str, Any] = await client.info("memory")
    return int(info["used_memory"])


async def make_full(client: aioredis.Redis, *, fraction: float = 0.97) -> int:
    """Set ``maxmemory`` to ``fraction`` of the memory in use (noeviction): Redis is then full. Returns it."""
    limit = int(await used_memory(client) * fraction)
    await client.config_set("maxmemory", limit)
    await client.config_set("maxmemory-policy", "noeviction")
    return limit


async def entity_snapshot(client: aioredis.Redis, store: HotStore, telegram_id: int, bot: str) -> dict[str, Any]:
    """Everything a write of (user, bot) touches: both hashes, both dirty marks, the boards' scores."""
    keys = store.keys
    member, on_board = str(telegram_id), board_member(telegram_id)
    snapshot: dict[str, Any] = {
        "user": await client.hgetall(keys.user(telegram_id)),  # type: ignore[misc]
        "session": await client.hgetall(keys.session(bot, telegram_id)),  # type: ignore[misc]
        "dirty_user": await dirty_score(client, keys, "users", member),
        "dirty_session": await dirty_score(client, keys, "sessions", session_member(bot, telegram_id)),
        "global": await client.zscore(keys.global_board, on_board),
        "bot": await client.zscore(keys.bot_board(bot), on_board),
    }
    async for week in client.scan_iter(match=keys.weekly_board_pattern):
        snapshot[f"week {week!r}"] = await client.zscore(week, on_board)
    return snapshot
