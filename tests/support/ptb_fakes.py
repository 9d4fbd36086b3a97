"""An offline Telegram Bot API for python-telegram-bot tests: a request class answering ``getMe`` and ``sendMessage``
locally and recording the texts sent per chat::

    request = ptb_request_class()(5005)
    app = ApplicationBuilder().token("5005:TEST").request(request).get_updates_request(...).build()
    async with app:
        await app.process_update(Update.de_json(ptb_text_update(1, 42, "/start"), app.bot))
    assert request.sent[42] == ["hello"]
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

_message_ids = itertools.count(1_000)


def ptb_request_class() -> type:
    """A ``telegram.request.BaseRequest`` subclass answering ``getMe`` and ``sendMessage`` (PTB imported lazily: a
    test module importing this can still ``importorskip`` it first)."""
    from telegram.request import BaseRequest

    class FakePTBRequest(BaseRequest):
        def __init__(self, bot_id: int) -> None:
            self.bot_id = bot_id
            self.sent: defaultdict[int, list[str]] = defaultdict(list)

        @property
        def read_timeout(self) -> float | None:
            return 1.0

        async def initialize(self) -> None:
            pass

        async def shutdown(self) -> None:
            pass

        async def do_request(self, url: str, method: str, request_data: Any = None, read_timeout: Any = None,
                             write_timeout: Any = None, connect_timeout: Any = None,
                             pool_timeout: Any = None) -> tuple[int, bytes]:
            endpoint = url.rsplit("/", 1)[-1]
            params = request_data.parameters if request_data is not None else {}
            result: Any = True
            if endpoint == "getMe":
                result = {"id": self.bot_id, "is_bot": True, "first_name": "bot", "username": f"bot{self.bot_id}"}
            elif endpoint == "sendMessage":
                chat_id = int(params["chat_id"])
                self.sent[chat_id].append(str(params["text"]))
                result = {"message_id": next(_message_ids), "date": int(datetime.now(UTC).timestamp()),
                          "chat": {"id": chat_id, "type": "private"}, "text": params["text"]}
            return 200, json.dumps({"ok": True, "result": result}).encode()

    return FakePTBRequest


def ptb_text_update(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    """The raw JSON of a private text message, for ``Update.de_json``; commands get their entity."""
    message: dict[str, Any] = {
        "message_id": update_id, "date": int(datetime.now(UTC).timestamp()), "text": text,
        "chat": {"id": user_id, "type": "private", "first_name": f"user {user_id}"},
        "from": {"id": user_id, "is_bot": False, "first_name": f"user {user_id}"},
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": update_id, "message": message}
