"""Bot documents and session documents (hotstore.core.documents) keep the write-behind invariants of users and
sessions: flushed version-guarded (2, 3), never evicted while dirty (4), loaded without overwriting newer Redis data
(6), every key tagged (8), bad input refused before any write (9). Redis: fakeredis and real; SQL: SQLite and PG."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import event, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

import hotstore.core.documents
from hotstore import HotStore, InvalidInput
from hotstore.core.keys import document_member
from hotstore.core.loader import HashFields
from hotstore.core.scripts import Scripts
from hotstore.writebehind.entities import DOCUMENTS
from hotstore.writebehind.flush import compare_and_clean, drain, read_dirty, write_rows
from hotstore.writebehind.sweep import sweep_idle
from persistence.models import BotDocument
from tests.support.dirty import dirty_count, dirty_score
from tests.support.stores import StoreFactory

BOT = "doc_bot"


@pytest.fixture
async def doc_store(make_store: StoreFactory) -> HotStore:
    """The conftest store on both axes, with a short idle TTL and a small document limit."""
    return await make_store(idle_ttl=600, max_document_bytes=2_000)


async def sql_row(engine: AsyncEngine, key: str) -> Any:
    async with engine.connect() as conn:
        query = select(BotDocument.__table__).where(BotDocument.bot_name == BOT, BotDocument.doc_key == key)
        return (await conn.execute(query)).mappings().one_or_none()


async def test_a_written_document_reaches_sql_and_turns_clean_with_the_idle_ttl(
        doc_store: HotStore, redis_client: aioredis.Redis, sql_engine: AsyncEngine) -> None:
    doc = doc_store.bot(BOT).documents.document("fsm:-1:2:::default")
    await doc.patch({"a": 1, "b": [1, 2]}, state="S")
    assert await redis_client.pttl(doc.redis_key) == -1  # dirty: no TTL (invariant 4)
    await drain(redis_client, doc_store.engine, doc_store.settings)
    row = await sql_row(sql_engine, "fsm:-1:2:::default")
    assert (row["state"], row["data"], row["version"]) == ("S", {"a": 1, "b": [1, 2]}, 1)
    assert await redis_client.pttl(doc.redis_key) > 0
    assert await dirty_count(redis_client, doc_store.keys, "documents") == 0


async def test_a_write_that_changes_nothing_writes_nothing(doc_store: HotStore, redis_client: aioredis.Redis) -> None:
    doc = doc_store.bot(BOT).documents.document("same")
    await doc.patch({"a": 1}, state="S")
    await drain(redis_client, doc_store.engine, doc_store.settings)
    version = await doc.patch({"a": 1}, state="S")
    await doc.set_data({"a": 1})
    await doc.update({}, unset=["missing"])
    assert version == 1
    assert await dirty_count(redis_client, doc_store.keys, "documents") == 0


async def test_a_document_only_in_sql_is_served_from_sql(doc_store: HotStore, sql_engine: AsyncEngine) -> None:
    async with sql_engine.begin() as conn:
        await conn.execute(insert(BotDocument).values(bot_name=BOT, doc_key="k", state="Q", data={"x": 5}, version=4))
    doc = doc_store.bot(BOT).documents.document("k")
    assert (await doc.get_state(), await doc.get_value("x"), await doc.get_value("y", 0)) == ("Q", 5, 0)
    await doc.update({"y": 1})
    await drain(doc_store.redis, doc_store.engine, doc_store.settings)
    assert (await sql_row(sql_engine, "k"))["version"] == 5


async def test_a_write_landing_during_a_flush_keeps_the_document_dirty(doc_store: HotStore,
                                                                       redis_client: aioredis.Redis) -> None:
    doc = doc_store.bot(BOT).documents.document("busy")
    await doc.update({"n": 1})
    batch = await read_dirty(redis_client, doc_store.keys, DOCUMENTS, 100)
    await doc.update({"n": 2})  # lands after the flush read the hash
    await write_rows(doc_store.engine, DOCUMENTS, batch.rows)
    cleaned, kept = await compare_and_clean(redis_client, Scripts(redis_client), doc_store.keys, batch, 600)
    assert (cleaned, kept) == (0, 1)
    assert await dirty_score(redis_client, doc_store.keys, "documents", document_member(BOT, "busy")) is not None


async def test_an_older_version_never_overwrites_a_newer_row(doc_store: HotStore, redis_client: aioredis.Redis,
                                                             sql_engine: AsyncEngine) -> None:
    doc = doc_store.bot(BOT).documents.document("race")
    await doc.update({"n": 1})
    stale = await read_dirty(redis_client, doc_store.keys, DOCUMENTS, 100)
    await doc.update({"n": 2})
    await drain(redis_client, doc_store.engine, doc_store.settings)
    await write_rows(doc_store.engine, DOCUMENTS, stale.rows)  # a slow flusher arrives late with version 1
    await write_rows(doc_store.engine, DOCUMENTS, stale.rows)
    row = await sql_row(sql_engine, "race")
    assert (row["data"], row["version"]) == ({"n": 2}, 2)


async def test_a_dirty_document_never_gets_a_ttl_from_reads_or_sweeps(doc_store: HotStore,
                                                                      redis_client: aioredis.Redis) -> None:
    doc = doc_store.bot(BOT).documents.document("dirty")
    await doc.set_state("S")
    await doc.get()
    await doc.get_value("x")
    await sweep_idle(redis_client, doc_store.settings)
    assert await redis_client.pttl(doc.redis_key) == -1
    await redis_client.persist(doc.redis_key)
    await drain(redis_client, doc_store.engine, doc_store.settings)
    await redis_client.persist(doc.redis_key)  # a clean document without a TTL: the sweep repairs it
    assert await sweep_idle(redis_client, doc_store.settings) == 1
    assert await redis_client.pttl(doc.redis_key) > 0


async def test_loading_a_document_never_overwrites_a_newer_redis_copy(doc_store: HotStore, redis_client: aioredis.Redis,
                                                                      sql_engine: AsyncEngine,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    async with sql_engine.begin() as conn:
        await conn.execute(insert(BotDocument).values(bot_name=BOT, doc_key="k", state="old", data={}, version=1))
    doc = doc_store.bot(BOT).documents.document("k")
    loader = hotstore.core.documents.load_document

    async def slow_load(engine: AsyncEngine, bot_name: str, key: str) -> HashFields:
        fields = await loader(engine, bot_name, key)
        await redis_client.hset(doc.redis_key, mapping={"v": "7", "st": "newer"})  # another process won the race
        return fields

    monkeypatch.setattr(hotstore.core.documents, "load_document", slow_load)
    assert await doc.get_state() == "newer"


async def test_states_merge_sql_rows_with_dirty_documents_in_redis(doc_store: HotStore,
                                                                   redis_client: aioredis.Redis) -> None:
    docs = doc_store.bot(BOT).documents
    await docs.document("conv:a:1").set_state("1")
    await docs.document("conv:a:2").set_state("2")
    await docs.document("conv:b:1").set_state("9")
    await drain(redis_client, doc_store.engine, doc_store.settings)
    await docs.document("conv:a:2").set_state(None)  # ended, not yet flushed
    await docs.document("conv:a:3").set_state("3")  # new, not yet flushed
    assert await docs.states("conv:a:") == {"conv:a:1": "1", "conv:a:3": "3"}
    assert await docs.states("conv:%") == {}  # the prefix is literal, in SQL and in Redis


async def test_every_document_key_carries_a_shard_tag_of_the_namespace(
    doc_store: HotStore, redis_client: aioredis.Redis, namespace: str
) -> None:
    before = {key async for key in redis_client.scan_iter(match="*", count=1000)}
    docs = doc_store.bot(BOT).documents
    await docs.document("fsm:1:2:::aiogd:stack:x").patch({"a": 1}, state="S")
    await docs.session(42).patch({"b": 2}, state="T")
    await docs.states("fsm:")
    await drain(redis_client, doc_store.engine, doc_store.settings)
    await sweep_idle(redis_client, doc_store.settings)
    new = {key async for key in redis_client.scan_iter(match="*", count=1000)} - before
    tags = {("{" + namespace + f":{shard}}}:").encode() for shard in doc_store.keys.all_shards()}
    documents = [key for key in new if b":d:" in key or b":s:" in key]
    assert documents and [key for key in documents if key[:key.index(b"}") + 2] not in tags] == []
    others = [key for key in new if namespace.encode() in key and key not in documents]
    assert others == [doc_store.keys.metrics.encode()]


@pytest.mark.parametrize("call", [
    lambda docs: docs.document("").get(),
    lambda docs: docs.document("x" * 513).get(),
    lambda docs: docs.document("nul\x00").get(),
    lambda docs: docs.document("k").set_state("s" * 2000),
    lambda docs: docs.document("k").set_data({"x": {1, 2}}),
    lambda docs: docs.document("k").set_data(["not", "a", "dict"]),
    lambda docs: docs.document("k").update({"big": "x" * 3_000}),
    lambda docs: docs.document("k").update({"a": 1}, unset="a"),
    lambda docs: docs.document("k").patch({"kept": 1}, unset=["kept"]),
    lambda docs: docs.document("k").get_value(5),
    lambda docs: docs.session(True).get(),
    lambda docs: docs.states(None),
])
async def test_bad_input_raises_invalid_input_and_writes_nothing(doc_store: HotStore, redis_client: aioredis.Redis,
                                                                 call: Any) -> None:
    await doc_store.bot(BOT).documents.document("k").set_data({"kept": "x" * 1_500})
    await drain(redis_client, doc_store.engine, doc_store.settings)
    with pytest.raises(InvalidInput):
        await call(doc_store.bot(BOT).documents)
    assert await doc_store.bot(BOT).documents.document("k").get_value("kept") == "x" * 1_500
    assert await dirty_count(redis_client, doc_store.keys, "documents") == 0
    assert await dirty_count(redis_client, doc_store.keys, "sessions") == 0


DOCUMENT_CALLS: dict[str, Any] = {
    "get": lambda ref: ref.get(),
    "get_state": lambda ref: ref.get_state(),
    "get_value": lambda ref: ref.get_value("a"),
    "set_state": lambda ref: ref.set_state("S2"),
    "set_data": lambda ref: ref.set_data({"a": 2}),
    "update": lambda ref: ref.update({"b": 3}),
    "patch": lambda ref: ref.patch({"c": 4}, unset=["a"], state=None),
}


@pytest.mark.parametrize("home", ["document", "session"])
@pytest.mark.parametrize("call", list(DOCUMENT_CALLS))
async def test_a_warm_document_call_is_one_round_trip_and_no_sql(doc_store: HotStore, redis_client: aioredis.Redis,
                                                                 monkeypatch: pytest.MonkeyPatch, home: str,
                                                                 call: str) -> None:
    """Invariant 5 for documents: what aiogram calls per message (get_state, get_data, update_data) costs one
    script each once the document is in Redis."""
    docs = doc_store.bot(BOT).documents
    ref = docs.document("fsm:1:1:::x") if home == "document" else docs.session(77)
    await ref.patch({"a": 1}, state="S")
    await DOCUMENT_CALLS[call](ref)  # scripts loaded
    counts = {"redis": 0, "sql": 0}
    original = redis_client.execute_command

    async def counting(*args: Any, **options: Any) -> Any:
        counts["redis"] += 1
        return await original(*args, **options)

    def count_sql(*_: Any) -> None:
        counts["sql"] += 1

    monkeypatch.setattr(redis_client, "execute_command", counting)
    event.listen(doc_store.engine.sync_engine, "before_cursor_execute", count_sql)
    try:
        await DOCUMENT_CALLS[call](ref)
    finally:
        event.remove(doc_store.engine.sync_engine, "before_cursor_execute", count_sql)
    assert counts == {"redis": 1, "sql": 0}


LONG = "долгий текст " * 20  # encodes over 64 bytes: stored as a chunked value (a head and parts)


async def test_a_long_value_reads_back_whole_by_name_and_with_the_document(
        doc_store: HotStore, redis_client: aioredis.Redis) -> None:
    doc = doc_store.bot(BOT).documents.document("long")
    await doc.set_data({"note": LONG, "n": 1})
    assert await doc.get_value("note") == LONG
    assert (await doc.get()).data == {"note": LONG, "n": 1}


async def test_a_long_value_set_short_or_deleted_leaves_no_parts_behind(
        doc_store: HotStore, redis_client: aioredis.Redis) -> None:
    documents = doc_store.bot(BOT).documents
    doc = documents.document("parts")
    await doc.set_data({"note": LONG, "other": LONG})
    await doc.update({"note": "short"})
    await doc.update(unset=["other"])
    key = doc_store.keys.document(BOT, "parts")
    names = [name.decode() for name in await redis_client.hkeys(key)]
    assert not [name for name in names if "\x00" in name]
    assert (await doc.get()).data == {"note": "short"}
