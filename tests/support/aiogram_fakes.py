"""An offline Telegram Bot API for aiogram tests: a session that answers locally and records what the bot sent, so a
test reads the replies as a user would (tests/support/ptb_fakes.py is the same for python-telegram-bot)::

    api = FakeAiogramSession()
    bot = Bot("1001:TEST", session=api)
    await dp.feed_update(bot, private_text(update_id=1, user_id=42, text="/start"))
    assert api.texts(1001, 42)[-1] == "hello"
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import GetMe, SendMessage, TelegramMethod
from aiogram.types import Chat, Message, Update, User

_message_ids = itertools.count(1_000)


class FakeAiogramSession(BaseSession):
    """An aiogram session that never leaves the process: ``getMe`` and ``sendMessage`` are answered, everything
    else returns ``True``; sent texts are kept per (bot id, chat id)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: defaultdict[tuple[int, int], list[str]] = defaultdict(list)

    def texts(self, bot_id: int, chat_id: int) -> list[str]:
        return self.sent[(bot_id, chat_id)]

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None) -> Any:  # noqa: ASYNC109 (aiogram's signature)
        if isinstance(method, GetMe):
            return User(id=bot.id, is_bot=True, first_name=f"bot {bot.id}", username=f"bot{bot.id}")
        if isinstance(method, SendMessage):
            chat_id = int(method.chat_id)
            self.sent[(bot.id, chat_id)].append(method.text)
            return Message(message_id=next(_message_ids), date=datetime.now(UTC),
                           chat=Chat(id=chat_id, type="private" if chat_id > 0 else "group"), text=method.text)
        return True

    async def stream_content(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("no downloads offline")

    async def close(self) -> None:
        pass


def text_update(update_id: int, user_id: int, text: str, *, chat_id: int | None = None,
                thread_id: int | None = None) -> Update:
    """A text message from ``user_id`` in their private chat, or in group ``chat_id`` (optionally a topic)."""
    chat = Chat(id=user_id, type="private") if chat_id is None else Chat(id=chat_id, type="supergroup", title="g")
    message = Message(message_id=update_id, date=datetime.now(UTC), chat=chat, text=text,
                      from_user=User(id=user_id, is_bot=False, first_name=f"user {user_id}"),
                      message_thread_id=thread_id, is_topic_message=thread_id is not None or None)
    return Update(update_id=update_id, message=message)
