"""Helpers of the layout-upgrade tests: a namespace written by hand in the single-tag layout of hotstore 0.4.

Every key under ``{ns}`` (:class:`hotstore.core.keys.SingleTagKeys`), hashes in the same encodings as the sharded
layout (tests/support/hot_entities.py), dirty sets scored by the first-dirty time, boards holding absolute totals
(the weekly one: the week's ZINCRBY sum). No tests live here.
"""

from __future__ import annotations

from typing import Any

from hotstore.core import constants as c
from hotstore.core.cluster import RedisClient
from hotstore.core.codec import encode_document
from hotstore.core.keys import SingleTagKeys, board_member, document_member, session_member
from tests.support.hot_entities import T0_MS

IDLE_TTL_MS = 3_600_000


async def _dirty_or_ttl(redis: RedisClient, key: str, dirty_set: str, member: str, dirty: bool) -> None:
    if dirty:
        await redis.zadd(dirty_set, {member: T0_MS}, nx=True)
    else:
        await redis.pexpire(key, IDLE_TTL_MS)


async def legacy_user(redis: RedisClient, legacy: SingleTagKeys, telegram_id: int, user_id: int, *, xp: int,
                      version: int, dirty: bool) -> str:
    """A single-tag user hash (no week fields: 0.4 had none); dirty or with the idle TTL. Returns the key."""
    key = legacy.user(telegram_id)
    await redis.hset(key, mapping={
        c.USER_ID: user_id, c.USER_TELEGRAM_ID: telegram_id, c.USER_XP: xp, c.USER_LEVEL: xp // 100 + 1,
        c.USER_TOTAL_TRAININGS: 0, c.USER_TOTAL_SCORE: 0, c.USER_REGISTERED_MS: T0_MS,
        c.USER_LAST_ACTIVITY_MS: T0_MS + 1000, c.VERSION: version,
    })
    await _dirty_or_ttl(redis, key, legacy.dirty_users, str(telegram_id), dirty)
    return key


async def legacy_session(redis: RedisClient, legacy: SingleTagKeys, bot_name: str, telegram_id: int, user_id: int,
                         *, session: dict[str, Any], xp: int, version: int, dirty: bool) -> str:
    key = legacy.session(bot_name, telegram_id)
    await redis.hset(key, mapping={
        c.SESSION_USER_ID: user_id, c.SESSION_XP: xp, c.SESSION_CREATED_MS: T0_MS,
        c.SESSION_UPDATED_MS: T0_MS + 2000, c.VERSION: version,
        **encode_document(c.SESSION_FIELD_PREFIX, session), **encode_document(c.STATS_FIELD_PREFIX, {}),
    })
    await _dirty_or_ttl(redis, key, legacy.dirty_sessions, session_member(bot_name, telegram_id), dirty)
    return key


async def legacy_document(redis: RedisClient, legacy: SingleTagKeys, bot_name: str, doc_key: str, *,
                          data: dict[str, Any], version: int, dirty: bool, state: str | None = None) -> str:
    key = legacy.document(bot_name, doc_key)
    fields: dict[str, Any] = {c.DOCUMENT_CREATED_MS: T0_MS, c.DOCUMENT_UPDATED_MS: T0_MS + 3000, c.VERSION: version,
                              **encode_document(c.SESSION_FIELD_PREFIX, data)}
    if state is not None:
        fields[c.DOCUMENT_STATE] = state
    await redis.hset(key, mapping=fields)
    await _dirty_or_ttl(redis, key, legacy.dirty_documents, document_member(bot_name, doc_key), dirty)
    return key


async def legacy_boards(redis: RedisClient, legacy: SingleTagKeys, bot_name: str, week: str,
                        scores: dict[int, tuple[int, int, int]]) -> None:
    """The three boards: telegram id → (total XP, XP in ``bot_name``, XP of ``week``)."""
    for telegram_id, (total, bot_xp, week_xp) in scores.items():
        member = board_member(telegram_id)
        await redis.zadd(legacy.global_board, {member: total})
        await redis.zadd(legacy.bot_board(bot_name), {member: bot_xp})
        if week_xp:
            await redis.zincrby(legacy.weekly_board(week), week_xp, member)


async def legacy_keys_left(redis: RedisClient, legacy: SingleTagKeys) -> list[str]:
    """Every key still under the single-tag namespace tag ``{ns}:`` that the upgrade should have removed."""
    found: list[str] = []
    async for raw in redis.scan_iter(match=legacy.tag + ":*", count=1000):
        key = raw.decode() if isinstance(raw, bytes) else str(raw)
        rest = key[len(legacy.tag) + 1:]
        if rest.startswith(("u:", "s:", "d:", "dirty:", "lb:")):
            found.append(key)
    return sorted(found)
