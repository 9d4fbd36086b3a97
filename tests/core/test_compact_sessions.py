"""Session hashes stay in Redis's compact listpack encoding: long values are chunked, and still patch atomically."""

from __future__ import annotations

import asyncio
from typing import Any

import msgpack
import pytest
import redis.asyncio as aioredis
from sqlalchemy import select

from hotstore import HotStore
from hotstore.core import constants as c
from hotstore.core.codec import chunk_value, decode_documents, encode_document, join_chunks
from hotstore.core.errors import InvalidInput
from hotstore.writebehind.flush import flush_dirty_sessions
from persistence.models import BotSession

TG = 4242
LONG = "Да, сейчас у нас около сорока менеджеров, и мы думаем о расширении отдела. " * 3


async def _fields(redis: aioredis.Redis, store: HotStore, bot: str = "spin") -> dict[bytes, bytes]:
    fields: dict[bytes, bytes] = await redis.hgetall(store.keys.session(bot, TG))  # type: ignore[misc]
    return fields


def test_a_long_value_round_trips_through_its_chunks() -> None:
    fields = encode_document(c.SESSION_FIELD_PREFIX, {"reply": LONG, "n": 3, "short": "ok"})
    assert max(len(value) for value in fields.values()) <= c.CHUNK_BYTES
    assert decode_documents(fields) == ({"reply": LONG, "n": 3, "short": "ok"}, {})


def test_every_chunk_of_a_value_fits_the_listpack_limit() -> None:
    for size in (65, 128, 1000, 5000):
        encoded = b"m" + bytes(range(256)) * (size // 256) + b"x" * (size % 256)
        parts = chunk_value("s:k", encoded)
        assert all(len(value) <= c.CHUNK_BYTES for _, value in parts)
        assert join_chunks("s:k", parts[0][1], dict(parts)) == encoded


def test_a_key_with_a_nul_is_refused_when_its_value_must_be_chunked() -> None:
    with pytest.raises(InvalidInput):
        encode_document(c.SESSION_FIELD_PREFIX, {"a\x00b": LONG})


async def test_a_session_with_long_values_reads_back_whole(hot_store: HotStore) -> None:
    bot = hot_store.bot("spin")
    await bot.save_session(TG, {"reply": LONG, "case": {"text": LONG}}, {"log": [LONG, LONG]})
    state = await bot.get_session(TG)
    assert (state.session, state.stats) == ({"reply": LONG, "case": {"text": LONG}}, {"log": [LONG, LONG]})


async def test_patching_a_chunked_key_with_a_short_value_leaves_no_parts(
    hot_store: HotStore, redis_client: aioredis.Redis
) -> None:
    bot = hot_store.bot("spin")
    await bot.save_session(TG, {"reply": LONG, "other": LONG}, {})
    await bot.patch_session(TG, session={"reply": "short"})
    names = {name.decode() for name in await _fields(redis_client, hot_store)}
    assert not any(name.startswith("s:reply\x00") for name in names)
    assert (await bot.get_session(TG)).session == {"reply": "short", "other": LONG}


async def test_unsetting_a_chunked_key_deletes_its_parts(hot_store: HotStore, redis_client: aioredis.Redis) -> None:
    bot = hot_store.bot("spin")
    await bot.save_session(TG, {"reply": LONG, "n": 1}, {})
    await bot.patch_session(TG, unset_session=["reply"])
    names = {name.decode() for name in await _fields(redis_client, hot_store)}
    assert not any(name.startswith("s:reply") for name in names)


async def test_incrementing_a_chunked_key_is_refused_and_writes_nothing(
    hot_store: HotStore, redis_client: aioredis.Redis
) -> None:
    bot = hot_store.bot("spin")
    await bot.save_session(TG, {"reply": LONG}, {})
    before = await _fields(redis_client, hot_store)
    with pytest.raises(InvalidInput):
        await bot.patch_session(TG, incr_session={"reply": 1})
    assert await _fields(redis_client, hot_store) == before


async def test_concurrent_patches_of_two_chunked_keys_keep_both(hot_store: HotStore) -> None:
    bot = hot_store.bot("spin")
    await bot.save_session(TG, {"a": "x", "b": "y"}, {})
    await asyncio.gather(*(bot.patch_session(TG, session={key: LONG + str(i)}) for i, key in enumerate("ab")))
    assert (await bot.get_session(TG)).session == {"a": LONG + "0", "b": LONG + "1"}


async def test_the_flush_writes_chunked_documents_whole_to_sql(store: HotStore) -> None:
    bot = store.bot("spin")
    await bot.save_session(TG, {"reply": LONG}, {"log": [LONG]})
    await flush_dirty_sessions(store.redis, store.engine, store.settings)
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(BotSession.session_data, BotSession.stats_data))).one()
    assert (row.session_data, row.stats_data) == ({"reply": LONG}, {"log": [LONG]})


@pytest.mark.redis
async def test_a_workload_session_hash_stays_listpack_within_1_5x_its_msgpack(
    make_hot_store: Any, redis_url: str | None, redis_client: aioredis.Redis
) -> None:
    if redis_url is None:
        pytest.skip("MEMORY USAGE and OBJECT ENCODING need a real Redis")
    hot = await make_hot_store()
    bot = hot.bot("spin")
    state = await bot.get_session(TG)
    session = {**state.session, "last_client_response": LONG[:75], "client_case": LONG[:40], "chat_state": "active"}
    await bot.save_session(TG, session, state.stats)
    key = hot.keys.session("spin", TG)
    fields = await redis_client.hgetall(key)  # type: ignore[misc]
    assert await redis_client.object("encoding", key) == b"listpack"
    usage = await redis_client.memory_usage(key, samples=0)
    assert usage is not None and usage <= 1.5 * len(msgpack.packb(fields))
