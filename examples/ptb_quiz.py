"""A quiz bot on python-telegram-bot, with hotstore as its persistence and its store.

    pip install "hotstore[ptb]"
    PTB_QUIZ_TOKEN="<token>" python examples/ptb_quiz.py

Commands: /quiz (three questions, a persistent ConversationHandler), /top (the leaderboard), /buy (a test
payment). Without REDIS_URL the store is the embedded one and the write-behind worker runs in this process.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import quiz
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
from telegram.request import BaseRequest

from hotstore import HotStore, InProcessFlusher
from hotstore.integrations.ptb import HotstorePersistence

BOT_NAME = "quiz_ptb"
ANSWERING = 1

App = Application[Any, Any, Any, Any, Any, Any]


def build_application(store: HotStore, token: str, *, request: BaseRequest | None = None,
                      updates_request: BaseRequest | None = None) -> App:
    hot = store.bot(BOT_NAME)
    builder = ApplicationBuilder().token(token).persistence(HotstorePersistence(store, bot_name=BOT_NAME))
    if request is not None:
        builder = builder.request(request)
    if updates_request is not None:
        builder = builder.get_updates_request(updates_request)
    app = builder.build()

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.message is not None and context.user_data is not None
        context.user_data.update(index=0, right=0)
        await update.message.reply_text(quiz.question(0))
        return ANSWERING

    async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.message is not None and update.effective_user is not None and context.user_data is not None
        user, progress = update.effective_user.id, context.user_data
        right, verdict = await quiz.answered(hot, user, progress["index"], update.message.text)
        progress["index"] += 1
        progress["right"] += right
        if progress["index"] < len(quiz.QUESTIONS):
            await update.message.reply_text(f"{verdict}\n{quiz.question(progress['index'])}")
            return ANSWERING
        await update.message.reply_text(f"{verdict}\n{await quiz.finished(hot, user, progress['right'])}")
        return ConversationHandler.END

    async def top(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text(await quiz.top(hot))

    async def buy(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.effective_user is not None
        payment_id = f"{BOT_NAME}-{update.message.chat.id}-{update.message.message_id}"
        await update.message.reply_text(await quiz.buy(hot, update.effective_user.id, payment_id))

    app.add_handler(ConversationHandler(
        entry_points=[CommandHandler("quiz", start)],
        states={ANSWERING: [MessageHandler(filters.TEXT & ~filters.COMMAND, answer)]},
        fallbacks=[CommandHandler("quiz", start)], persistent=True, name="quiz"))
    app.add_handler(CommandHandler("top", top))
    app.add_handler(CommandHandler("buy", buy))
    return app


async def main() -> None:
    store = await HotStore.open()
    try:
        async with InProcessFlusher(store.settings, redis=store.redis, engine=store.engine):  # write-behind
            app = build_application(store, os.environ["PTB_QUIZ_TOKEN"])
            async with app:  # leaving it hands everything PTB holds over to hotstore
                await app.start()
                assert app.updater is not None
                await app.updater.start_polling()
                try:
                    await asyncio.Event().wait()  # until interrupted
                finally:
                    await app.updater.stop()
                    await app.stop()
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
