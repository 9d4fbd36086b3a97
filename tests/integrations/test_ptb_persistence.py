"""python-telegram-bot applications on HotstorePersistence, driven offline through a fake Bot API request."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

pytest.importorskip("telegram")

import redis.asyncio as aioredis
from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)

from hotstore import HotStore, InvalidInput
from hotstore.integrations.ptb import HotstorePersistence
from hotstore.writebehind.flush import drain
from tests.support.ptb_fakes import ptb_request_class, ptb_text_update

BOT_ID = 5005
BOT = "ptb_quiz"
ASKING = 1
_update_ids = itertools.count(1)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    assert update.message is not None and context.user_data is not None and context.chat_data is not None
    context.user_data["asked"] = context.user_data.get("asked", 0) + 1
    context.chat_data["last"] = "start"
    context.bot_data["starts"] = context.bot_data.get("starts", 0) + 1
    await update.message.reply_text("2+2?")
    return ASKING


async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    assert update.message is not None and context.user_data is not None
    right = update.message.text == "4"
    if right:
        context.user_data["right"] = context.user_data.get("right", 0) + 1
    await update.message.reply_text("right" if right else "wrong")
    return ConversationHandler.END


def build(store: HotStore) -> tuple[Application[Any, Any, Any, Any, Any, Any], Any]:
    request, polling = ptb_request_class()(BOT_ID), ptb_request_class()(BOT_ID)
    persistence = HotstorePersistence(store, bot_name=BOT, update_interval=60)
    app = (ApplicationBuilder().token(f"{BOT_ID}:TEST").request(request).get_updates_request(polling)
           .persistence(persistence).build())
    app.add_handler(ConversationHandler(
        entry_points=[CommandHandler("start", start)],
        states={ASKING: [MessageHandler(filters.TEXT & ~filters.COMMAND, answer)]},
        fallbacks=[], persistent=True, name="quiz"))
    return app, request


Running = Callable[[int, str], Any]


@asynccontextmanager
async def running(store: HotStore) -> AsyncIterator[tuple[Application[Any, Any, Any, Any, Any, Any], Any, Running]]:
    """An initialised application (its shut-down hands everything over, as ``stop()`` does)."""
    app, request = build(store)

    async def send(user_id: int, text: str) -> list[str]:
        await app.process_update(Update.de_json(ptb_text_update(next(_update_ids), user_id, text), app.bot))
        return list(request.sent[user_id])

    async with app:
        yield app, request, send


async def lose_redis(store: HotStore, redis: aioredis.Redis, namespace: str) -> None:
    await drain(redis, store.engine, store.settings)
    async for key in redis.scan_iter(match="{" + namespace + "[}:]*", count=1000):
        await redis.delete(key)


@pytest.mark.parametrize("loss", ["restart", "redis_loss"])
async def test_a_conversation_and_user_data_resume_after_a_restart(store: HotStore, redis_client: aioredis.Redis,
                                                                   namespace: str, loss: str) -> None:
    async with running(store) as (_, _, send):
        assert (await send(7, "/start"))[-1] == "2+2?"
    if loss == "redis_loss":
        await lose_redis(store, redis_client, namespace)

    async with running(store) as (app, _, send):
        assert (await send(7, "4"))[-1] == "right"  # the conversation was still waiting for the answer
        assert app.user_data[7] == {"asked": 1, "right": 1}
        assert app.chat_data[7] == {"last": "start"}
        assert app.bot_data == {"starts": 1}
    async with running(store) as (_, _, send):
        assert (await send(7, "4"))[-1:] == []  # the conversation ended: a bare answer starts nothing


async def test_start_up_loads_no_user_and_each_user_arrives_with_their_first_update(store: HotStore) -> None:
    async with running(store) as (_, _, send):
        for user_id in range(1, 21):
            await send(user_id, "/start")
    async with running(store) as (app, _, send):
        assert dict(app.user_data) == {}
        await send(3, "4")
        assert app.user_data[3] == {"asked": 1, "right": 1}
        assert set(app.user_data) == {3}


async def test_user_data_is_the_user_s_session_document_and_hotstore_writes_survive_the_hand_over(
        store: HotStore) -> None:
    async with running(store) as (app, _, send):
        await send(9, "/start")
        await app.update_persistence()
        session = await store.bot(BOT).get_session(9)
        assert session.session == {"asked": 1}
        await store.bot(BOT).patch_session(9, session={"xp_note": "from hotstore"})
        await send(9, "4")  # refresh brings xp_note in; the hand-over writes only what PTB changed
        assert app.user_data[9] == {"asked": 1, "right": 1, "xp_note": "from hotstore"}
    assert (await store.bot(BOT).get_session(9)).session == {"asked": 1, "right": 1, "xp_note": "from hotstore"}


async def test_dropped_user_data_is_gone_after_a_restart(store: HotStore) -> None:
    async with running(store) as (app, _, send):
        await send(4, "/start")
        await app.update_persistence()
        app.drop_user_data(4)
    async with running(store) as (app, _, send):
        await send(4, "4")
        assert app.user_data[4] == {"right": 1}


async def test_callback_data_round_trips_and_an_empty_store_has_none(store: HotStore) -> None:
    persistence = HotstorePersistence(store, bot_name=BOT)
    assert await persistence.get_callback_data() is None
    data = ([("kb-1", 1700000000.5, {"btn": {"choice": 2}})], {"query-1": "kb-1"})
    await persistence.update_callback_data(data)
    assert await HotstorePersistence(store, bot_name=BOT).get_callback_data() == data


async def test_data_that_is_not_json_like_raises_and_writes_nothing(store: HotStore) -> None:
    persistence = HotstorePersistence(store, bot_name=BOT)
    with pytest.raises(InvalidInput):
        await persistence.update_user_data(5, {1: "an int key"})  # type: ignore[dict-item]
    with pytest.raises(InvalidInput):
        await persistence.update_conversation("quiz", (5, 5), object())
    with pytest.raises(InvalidInput):
        HotstorePersistence(store, bot_name="no spaces")
    assert (await store.bot(BOT).documents.session(5).get()).data == {}
    assert await persistence.get_conversations("quiz") == {}


async def test_conversations_whose_names_share_a_prefix_stay_apart(store: HotStore) -> None:
    persistence = HotstorePersistence(store, bot_name=BOT)
    await persistence.update_conversation("a", (1, 1), 1)
    await persistence.update_conversation("a:b", (2, 2), "two")
    await persistence.update_conversation("a:b", (3, "inline"), [3])
    assert await persistence.get_conversations("a") == {(1, 1): 1}
    assert await persistence.get_conversations("a:b") == {(2, 2): "two", (3, "inline"): [3]}
