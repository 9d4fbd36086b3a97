"""A real aiogram Dispatcher serving two bots on HotstoreStorage, fed fake updates from many concurrent users."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

pytest.importorskip("aiogram")

import redis.asyncio as aioredis
from aiogram import Bot, Dispatcher
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import BaseEventIsolation, StorageKey
from aiogram.fsm.storage.memory import DisabledEventIsolation
from aiogram.types import Message

from hotstore import BotStore, HotStore, InvalidInput
from hotstore.cli.demo.verify import verify
from hotstore.integrations.aiogram import (
    HotstoreEventIsolation,
    HotstoreMiddleware,
    HotstoreStorage,
    IsolationTimeout,
)
from hotstore.writebehind.flush import drain
from tests.support.aiogram_fakes import FakeAiogramSession, text_update

BOT_IDS = {1001: "form_a", 1002: "form_b"}
USERS = range(1, 31)
GROUP = -100_777


class Form(StatesGroup):
    name = State()
    age = State()


@dataclass
class Harness:
    dp: Dispatcher
    storage: HotstoreStorage
    api: FakeAiogramSession
    bots: dict[int, Bot]
    hot_seen: dict[int, str]  # Telegram bot id -> the BotStore name a handler got as ``hot``

    async def send(self, bot_id: int, update_id: int, user_id: int, text: str, *, chat_id: int | None = None) -> None:
        await self.dp.feed_update(self.bots[bot_id], text_update(update_id, user_id, text, chat_id=chat_id))


def build(store: HotStore, isolation: Callable[[HotstoreStorage], BaseEventIsolation] | None = None) -> Harness:
    storage = HotstoreStorage(store, bot_name=BOT_IDS.__getitem__)
    dp = Dispatcher(storage=storage, events_isolation=isolation(storage) if isolation else DisabledEventIsolation())
    dp.update.outer_middleware(HotstoreMiddleware(store, bot_name=BOT_IDS.__getitem__))
    api = FakeAiogramSession()
    harness = Harness(dp, storage, api, {bot_id: Bot(f"{bot_id}:TEST", session=api) for bot_id in BOT_IDS}, {})

    @dp.message(Command("start"))
    async def start(message: Message, state: FSMContext) -> None:
        await state.set_state(Form.name)
        await message.answer("name?")

    @dp.message(Form.name)
    async def got_name(message: Message, state: FSMContext) -> None:
        await state.update_data(name=message.text)
        await state.set_state(Form.age)
        await message.answer("age?")

    @dp.message(Form.age)
    async def got_age(message: Message, state: FSMContext, hot: BotStore) -> None:
        assert message.from_user is not None and message.bot is not None
        data = await state.update_data(age=int(message.text or "0"))
        await state.set_state(None)
        harness.hot_seen[message.bot.id] = hot.name
        await hot.add_xp(message.from_user.id, 10)
        await message.answer(f"done {data['name']} {data['age']}")

    return harness


@pytest.fixture
async def harness(store: HotStore) -> AsyncIterator[Harness]:
    built = build(store)
    yield built
    await built.dp.emit_shutdown()  # closes the storage, as a polling bot's shut-down does


def name_of(bot_id: int, user_id: int) -> str:
    return f"{BOT_IDS[bot_id]}-user{user_id}"


async def run_flows(h: Harness, users: range, *, chat_id: int | None = None) -> None:
    """Every user of every bot goes /start → name → age; users (and bots) run concurrently, each user in order."""
    async def one(bot_id: int, user_id: int) -> None:
        base = bot_id * 10_000 + user_id * 10
        for step, text in enumerate(("/start", name_of(bot_id, user_id), str(user_id + 20))):
            await h.send(bot_id, base + step, user_id, text, chat_id=chat_id)

    await asyncio.gather(*(one(bot_id, user_id) for bot_id in BOT_IDS for user_id in users))


async def test_concurrent_flows_of_two_bots_complete_with_each_bot_keeping_its_own_data(harness: Harness) -> None:
    await run_flows(harness, USERS)
    for bot_id in BOT_IDS:
        for user_id in USERS:
            key = StorageKey(bot_id=bot_id, chat_id=user_id, user_id=user_id)
            assert harness.api.texts(bot_id, user_id)[-1] == f"done {name_of(bot_id, user_id)} {user_id + 20}"
            assert await harness.storage.get_state(key) is None
            assert await harness.storage.get_data(key) == {"name": name_of(bot_id, user_id), "age": user_id + 20}


async def test_a_private_chat_s_fsm_data_is_the_user_s_bot_session_document(harness: Harness,
                                                                          store: HotStore) -> None:
    await run_flows(harness, range(1, 3))
    for bot_id, bot_name in BOT_IDS.items():
        session = await store.bot(bot_name).get_session(1)
        assert session.session == {"name": name_of(bot_id, 1), "age": 21}
        assert session.xp == 10
        assert harness.hot_seen[bot_id] == bot_name
    await store.bot("form_a").patch_session(1, incr_session={"age": 1})
    key = StorageKey(bot_id=1001, chat_id=1, user_id=1)
    assert await harness.storage.get_value(key, "age") == 22


async def test_group_chat_flows_complete_in_bot_documents(harness: Harness) -> None:
    await run_flows(harness, range(1, 6), chat_id=GROUP)
    for user_id in range(1, 6):
        key = StorageKey(bot_id=1002, chat_id=GROUP, user_id=user_id)
        assert await harness.storage.get_data(key) == {"name": name_of(1002, user_id), "age": user_id + 20}
        private = StorageKey(bot_id=1002, chat_id=user_id, user_id=user_id)
        assert await harness.storage.get_data(private) == {}  # the user's private chat is another key


async def test_hundred_concurrent_update_data_calls_on_one_key_keep_every_key(harness: Harness) -> None:
    for key in (StorageKey(bot_id=1001, chat_id=7, user_id=7), StorageKey(bot_id=1001, chat_id=GROUP, user_id=7)):
        await asyncio.gather(*(harness.storage.update_data(key, {f"k{i}": i}) for i in range(100)))
        assert await harness.storage.get_data(key) == {f"k{i}": i for i in range(100)}


async def test_state_and_data_survive_a_flush_and_a_total_redis_loss(harness: Harness, store: HotStore,
                                                                     redis_client: aioredis.Redis,
                                                                     namespace: str) -> None:
    private = StorageKey(bot_id=1001, chat_id=5, user_id=5)
    group = StorageKey(bot_id=1002, chat_id=GROUP, user_id=5, thread_id=9)
    dialog = StorageKey(bot_id=1002, chat_id=5, user_id=5, destiny="aiogd:stack:abc")
    for key, state in ((private, "Form:age"), (group, "Form:name"), (dialog, "stack")):
        await harness.storage.set_state(key, state)
        await harness.storage.set_data(key, {"where": str(key.chat_id), "n": [1, 2]})
    await drain(redis_client, store.engine, store.settings)
    async for key in redis_client.scan_iter(match="{" + namespace + "[}:]*", count=1000):
        await redis_client.delete(key)  # Redis lost everything of this namespace

    for key, state in ((private, "Form:age"), (group, "Form:name"), (dialog, "stack")):
        assert await harness.storage.get_state(key) == state
        assert await harness.storage.get_data(key) == {"where": str(key.chat_id), "n": [1, 2]}


async def test_after_a_drain_sql_holds_exactly_the_sessions_and_documents_redis_holds(
        harness: Harness, store: HotStore, redis_client: aioredis.Redis) -> None:
    await run_flows(harness, range(1, 6))
    await run_flows(harness, range(1, 6), chat_id=GROUP)
    await harness.storage.set_state(StorageKey(bot_id=1001, chat_id=3, user_id=3), "Form:name")
    await drain(redis_client, store.engine, store.settings)
    verdict = await verify(store, list(range(1, 6)), list(BOT_IDS.values()))
    assert verdict.ok, verdict.render()
    assert (verdict.sessions, verdict.documents) == (10, 10)


async def test_a_fixed_bot_name_refuses_a_second_telegram_bot(store: HotStore) -> None:
    storage = HotstoreStorage(store, bot_name="only_one")
    await storage.set_state(StorageKey(bot_id=1, chat_id=3, user_id=3), "S")
    with pytest.raises(InvalidInput):
        await storage.get_state(StorageKey(bot_id=2, chat_id=3, user_id=3))


async def test_a_bot_the_name_callable_does_not_know_raises_invalid_input(harness: Harness) -> None:
    with pytest.raises(InvalidInput):
        await harness.storage.get_state(StorageKey(bot_id=4242, chat_id=3, user_id=3))


async def test_data_that_cannot_be_stored_raises_and_writes_nothing(harness: Harness) -> None:
    key = StorageKey(bot_id=1001, chat_id=GROUP, user_id=3)
    await harness.storage.set_data(key, {"kept": 1})
    for bad in ({"x": object()}, {1: "int key"}, {"x": float("nan")}):
        with pytest.raises(InvalidInput):
            await harness.storage.update_data(key, bad)
    with pytest.raises(InvalidInput):
        await harness.storage.set_state(key, "s" * 5000)
    assert await harness.storage.get_data(key) == {"kept": 1}
    assert await harness.storage.get_state(key) is None


async def test_event_isolation_runs_one_handler_at_a_time_per_key(store: HotStore) -> None:
    h = build(store, isolation=lambda storage: storage.create_isolation(timeout=10, wait=10))
    running: dict[int, int] = {}
    overlaps: list[int] = []

    @h.dp.message(Command("slow"))
    async def slow(message: Message) -> None:
        assert message.from_user is not None
        user = message.from_user.id
        running[user] = running.get(user, 0) + 1
        if running[user] > 1:
            overlaps.append(user)
        await asyncio.sleep(0.02)
        running[user] -= 1

    await asyncio.gather(*(h.send(1001, 50_000 + i, 1 + i % 3, "/slow") for i in range(12)))
    assert overlaps == []
    await h.dp.emit_shutdown()


async def test_an_event_lock_held_past_the_wait_raises_isolation_timeout(store: HotStore) -> None:
    isolation = HotstoreEventIsolation(store, bot_name="locked", timeout=5, wait=0.2)
    key = StorageKey(bot_id=9, chat_id=1, user_id=1)
    async with isolation.lock(key):
        with pytest.raises(IsolationTimeout):
            async with isolation.lock(key):
                pass
    async with isolation.lock(key):  # released: free again
        pass


@pytest.mark.parametrize("bad", [{"timeout": 0}, {"wait": -1}, {"timeout": True}])
def test_isolation_refuses_a_non_positive_timeout(store: HotStore, bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        HotstoreEventIsolation(store, bot_name="x", **bad)


async def test_close_store_closes_the_store_once_however_often_dispatchers_close(
        store: HotStore, monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[int] = []

    async def close() -> None:
        closed.append(1)

    monkeypatch.setattr(store, "close", close)
    storage = HotstoreStorage(store, bot_name="closing", close_store=True)
    for dp in (Dispatcher(storage=storage), Dispatcher(storage=storage)):
        await dp.emit_shutdown()
    assert closed == [1]
