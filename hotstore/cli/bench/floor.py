"""The Redis floor: the same data operations as hotstore's hot path, issued directly with redis-py.

No scripts, no read-through, no validation: each call is one round trip, as hotstore's invariant 5 demands.

- get: ``HGETALL`` user + ``HGETALL`` session in one pipeline;
- save: ``MULTI`` ``HSET`` every document field + ``HINCRBY v`` + ``ZADD NX`` dirty ``EXEC``;
- add XP: ``MULTI`` ``HINCRBY`` user and session XP, ``HGET`` level, ``ZINCRBY`` global, bot and weekly boards,
  ``HINCRBY v`` + ``ZADD NX`` dirty ``EXEC`` (plus one ``HSET`` of the level when it rose).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from hotstore.cli.bench.workload import Workload, initial_documents
from hotstore.core import constants as c
from hotstore.core.codec import decode_documents, encode_document
from hotstore.core.keys import KeyScheme, board_member, iso_week, session_member

FILL_BATCH = 500


def _ms() -> int:
    return int(time.time() * 1000)


class FloorPath:
    """The per-message path with raw redis-py commands (a :class:`~hotstore.cli.bench.workload.MessagePath`)."""

    def __init__(self, redis: Any, keys: KeyScheme) -> None:
        self.redis = redis
        self.keys = keys
        self.week = keys.weekly_board(iso_week(datetime.now(UTC)))

    async def get_session(self, telegram_id: int, bot: str) -> tuple[dict[str, Any], dict[str, Any]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.keys.user(telegram_id))
            pipe.hgetall(self.keys.session(bot, telegram_id))
            _user, fields = await pipe.execute()
        return decode_documents(fields)

    async def save_session(self, telegram_id: int, bot: str, session: dict[str, Any], stats: dict[str, Any]) -> None:
        key = self.keys.session(bot, telegram_id)
        fields: dict[str, Any] = encode_document(c.SESSION_FIELD_PREFIX, session)
        fields.update(encode_document(c.STATS_FIELD_PREFIX, stats))
        fields[c.SESSION_UPDATED_MS] = _ms()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)
            pipe.hincrby(key, c.VERSION, 1)
            pipe.zadd(self.keys.session_dirty_set(telegram_id), {session_member(bot, telegram_id): _ms()}, nx=True)
            await pipe.execute()

    async def add_xp(self, telegram_id: int, bot: str, xp: int) -> int:
        user_key, member = self.keys.user(telegram_id), board_member(telegram_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(user_key, c.USER_XP, xp)
            pipe.hincrby(self.keys.session(bot, telegram_id), c.SESSION_XP, xp)
            pipe.hget(user_key, c.USER_LEVEL)
            pipe.zincrby(self.keys.global_board, xp, member)
            pipe.zincrby(self.keys.bot_board(bot), xp, member)
            pipe.zincrby(self.week, xp, member)
            pipe.hincrby(user_key, c.VERSION, 1)
            pipe.zadd(self.keys.user_dirty_set(telegram_id), {str(telegram_id): _ms()}, nx=True)
            total, _bot_xp, old_level, *_ = await pipe.execute()
        level = min(int(total) // 100 + 1, 100)
        if level > int(old_level or 1):
            await self.redis.hset(user_key, c.USER_LEVEL, level)
        return level


async def fill_floor(redis: Any, keys: KeyScheme, workload: Workload) -> None:
    """Write every user hash and session hash the floor reads, untimed (the floor's warm state)."""
    doc, stats = initial_documents()
    fields: dict[str, Any] = encode_document(c.SESSION_FIELD_PREFIX, doc)
    fields.update(encode_document(c.STATS_FIELD_PREFIX, stats))
    ids = workload.telegram_ids()
    for start in range(0, len(ids), FILL_BATCH):
        async with redis.pipeline(transaction=False) as pipe:
            for number, tg in enumerate(ids[start : start + FILL_BATCH], start=start + 1):
                user = {c.USER_ID: number, c.USER_TELEGRAM_ID: tg, c.USER_XP: 0, c.USER_LEVEL: 1, c.VERSION: 0}
                pipe.hset(keys.user(tg), mapping=user)
                for bot in workload.bot_names:
                    pipe.hset(keys.session(bot, tg), mapping={**fields, c.SESSION_USER_ID: number, c.VERSION: 0})
            await pipe.execute()
