"""Two quiz bots on one aiogram Dispatcher, with hotstore as their FSM storage and their store.

    pip install "hotstore[aiogram]"
    QUIZ_BOT_TOKENS="<token of bot 1>,<token of bot 2>" python examples/aiogram_quiz.py

Commands: /quiz (three questions, an FSM flow), /top (this bot's leaderboard), /buy (a test payment). Without
REDIS_URL the store is the embedded one and the write-behind worker runs in this process.
"""

from __future__ import annotations

import asyncio
import os

import quiz
from aiogram import Bot, Dispatcher
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message

from hotstore import BotStore, HotStore, InProcessFlusher
from hotstore.integrations.aiogram import HotstoreMiddleware, HotstoreStorage

BOT_NAMES = ("quiz_math", "quiz_capitals")  # hotstore bot names, in the order of QUIZ_BOT_TOKENS


class Quiz(StatesGroup):
    answering = State()


def bot_names(tokens: list[str]) -> dict[int, str]:
    """Telegram bot id (the part of the token before ':') → hotstore bot name."""
    return {int(token.split(":", 1)[0]): name for token, name in zip(tokens, BOT_NAMES, strict=False)}


def build_dispatcher(store: HotStore, names: dict[int, str]) -> Dispatcher:
    storage = HotstoreStorage(store, bot_name=names.__getitem__)
    dp = Dispatcher(storage=storage, events_isolation=storage.create_isolation())
    dp.update.outer_middleware(HotstoreMiddleware(store, bot_name=storage.bot_names))

    @dp.message(Command("quiz"))
    async def start(message: Message, state: FSMContext) -> None:
        await state.set_state(Quiz.answering)
        await state.set_data({"index": 0, "right": 0})
        await message.answer(quiz.question(0))

    @dp.message(Quiz.answering)
    async def answer(message: Message, state: FSMContext, hot: BotStore) -> None:
        assert message.from_user is not None
        user = message.from_user.id
        index = await state.get_value("index", 0)
        right, verdict = await quiz.answered(hot, user, index, message.text)
        data = await state.update_data(index=index + 1, right=await state.get_value("right", 0) + right)
        if data["index"] < len(quiz.QUESTIONS):
            await message.answer(f"{verdict}\n{quiz.question(data['index'])}")
            return
        await state.clear()
        await message.answer(f"{verdict}\n{await quiz.finished(hot, user, data['right'])}")

    @dp.message(Command("top"))
    async def top(message: Message, hot: BotStore) -> None:
        await message.answer(await quiz.top(hot))

    @dp.message(Command("buy"))
    async def buy(message: Message, hot: BotStore) -> None:
        assert message.from_user is not None
        payment_id = f"{hot.name}-{message.chat.id}-{message.message_id}"
        await message.answer(await quiz.buy(hot, message.from_user.id, payment_id))

    return dp


async def main() -> None:
    tokens = [token.strip() for token in os.environ["QUIZ_BOT_TOKENS"].split(",") if token.strip()]
    store = await HotStore.open()
    try:
        async with InProcessFlusher(store.settings, redis=store.redis, engine=store.engine):  # write-behind
            dp = build_dispatcher(store, bot_names(tokens))
            await dp.start_polling(*(Bot(token) for token in tokens))
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
