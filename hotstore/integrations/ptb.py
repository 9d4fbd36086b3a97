"""hotstore as the persistence of python-telegram-bot (PTB) applications.

Install with ``pip install "hotstore[ptb]"``::

    store = await HotStore.open()
    app = (ApplicationBuilder().token(TOKEN)
           .persistence(HotstorePersistence(store, bot_name="quiz_bot", update_interval=1)).build())

Where the data lives (every piece a hotstore write-behind entity: one Lua script per write, flushed to SQL):

- ``user_data``: the user's session in the bot; ``user_data`` *is* its ``session_data``, one document for hotstore
  (``BotStore.get_session``, ``patch_session``) and PTB;
- ``chat_data``: the bot document ``ptb:chat:<chat id>``; ``bot_data``: ``ptb:bot``; callback data:
  ``ptb:callback``;
- a persistent ConversationHandler's state per key: the state of the bot document
  ``ptb:conv:<name, %-quoted>:<key as JSON>``.

Data is loaded lazily: ``get_user_data``/``get_chat_data`` return nothing at start-up and ``refresh_*`` (run before
every handler) loads what the update needs. PTB hands data over in ``update_*`` (every ``update_interval`` seconds
and at ``stop()``); only the top-level keys that changed since PTB last saw the document are written, so writes
that hotstore calls made meanwhile to other keys of the same document are kept, and a document nobody changed costs
no round trip. From the hand-over on, the data is as durable as any hotstore write. Values must be JSON-like (str
keys); anything else raises :class:`hotstore.InvalidInput` (PTB reports it to its error handlers).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, MutableMapping
from typing import Any
from urllib.parse import quote

from telegram.ext import BasePersistence, PersistenceInput

from hotstore.core.documents import DocumentRef, Documents
from hotstore.core.errors import InvalidInput
from hotstore.core.keys import check_bot_name
from hotstore.core.store import HotStore

__all__ = ["DEFAULT_UPDATE_INTERVAL_S", "HotstorePersistence"]

Data = dict[str, Any]
ConversationKey = tuple[int | str, ...]
ConversationDict = dict[ConversationKey, object]
CDCData = tuple[list[tuple[str, float, dict[str, Any]]], dict[str, str]]  # PTB's callback-data cache contents
DEFAULT_UPDATE_INTERVAL_S = 1.0  # PTB's own default is 60 s: the window a crash can lose before the hand-over
BOT_DATA_KEY = "ptb:bot"
CALLBACK_DATA_KEY = "ptb:callback"
_MISSING = object()


def chat_key(chat_id: int) -> str:
    return f"ptb:chat:{chat_id}"


def conversation_prefix(name: str) -> str:
    """``ptb:conv:<name, %-quoted>:``: no name's prefix is another's (a name cannot hold a bare ':')."""
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"a conversation name must be a non-empty str: {name!r}")
    return f"ptb:conv:{quote(name, safe='')}:"


def _json(value: object, what: str) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} must be JSON-like: {value!r}") from exc


def changed_keys(base: Data, data: Data) -> tuple[Data, list[str]]:
    """What PTB changed since it last saw the document: ``(keys set or changed, keys deleted)``."""
    sets = {key: value for key, value in data.items() if base.get(key, _MISSING) != value}
    return sets, [key for key in base if key not in data]


def apply_remote(memory: MutableMapping[Any, Any], base: Data, remote: Data) -> None:
    """Bring into PTB's ``memory`` (in place) every key the store changed since ``base``; PTB's own unsaved
    changes to the other keys are kept."""
    for key in base.keys() | remote.keys():
        value = remote.get(key, _MISSING)
        if base.get(key, _MISSING) == value:
            continue
        if value is _MISSING:
            memory.pop(key, None)
        else:
            memory[key] = copy.deepcopy(value)  # memory must not share objects with the base it is diffed against


class _Tracked:
    """One document as PTB sees it: the last version exchanged with the store (the base of both diffs)."""

    __slots__ = ("base", "ref")

    def __init__(self, ref: DocumentRef) -> None:
        self.ref = ref
        self.base: Data = {}

    async def load(self) -> Data:
        self.base = (await self.ref.get()).data
        return copy.deepcopy(self.base)

    async def refresh(self, memory: MutableMapping[Any, Any]) -> None:
        before = self.base
        remote = (await self.ref.get()).data
        if self.base is not before:
            return  # an update landed while we read: our copy may predate it; the next refresh catches up
        apply_remote(memory, before, remote)
        self.base = remote

    async def update(self, data: Data) -> None:
        sets, unsets = changed_keys(self.base, data)
        if sets or unsets:
            await self.ref.patch(sets, unset=unsets)
        self.base = data  # PTB hands over a deep copy: ours to keep

    async def drop(self) -> None:
        await self.ref.set_data({})
        self.base = {}


class HotstorePersistence(BasePersistence[Data, Data, Data]):
    """PTB's ``BasePersistence`` on hotstore.

    :param store: the open :class:`HotStore`.
    :param bot_name: the hotstore bot name of this application's bot.
    :param update_interval: seconds between PTB's hand-overs (``update_*``); a crash loses at most this window
        of changes PTB holds in memory. Unchanged documents cost nothing, so it can be short.
    :param store_data: which kinds of data PTB persists (:class:`telegram.ext.PersistenceInput`).
    """

    def __init__(self, store: HotStore, *, bot_name: str, update_interval: float = DEFAULT_UPDATE_INTERVAL_S,
                 store_data: PersistenceInput | None = None) -> None:
        super().__init__(store_data=store_data, update_interval=update_interval)
        check_bot_name(bot_name)
        store.set_session_defaults(bot_name, {})  # user_data and the session are one document from the start
        self.store = store
        self.bot_name = bot_name
        self.documents = Documents(store, bot_name)
        self._users: dict[int, _Tracked] = {}
        self._chats: dict[int, _Tracked] = {}
        self._bot = _Tracked(self.documents.document(BOT_DATA_KEY))
        self._callback = _Tracked(self.documents.document(CALLBACK_DATA_KEY))

    def _tracked(self, table: dict[int, _Tracked], ident: int, ref: Callable[[int], DocumentRef]) -> _Tracked:
        tracked = table.get(ident)
        if tracked is None:
            tracked = table[ident] = _Tracked(ref(ident))
        return tracked

    def _user(self, user_id: int) -> _Tracked:
        return self._tracked(self._users, user_id, self.documents.session)

    def _chat(self, chat_id: int) -> _Tracked:
        return self._tracked(self._chats, chat_id, lambda ident: self.documents.document(chat_key(ident)))

    # ------------------------------------------------------------ start-up: nothing per user or chat

    async def get_user_data(self) -> dict[int, Data]:
        return {}

    async def get_chat_data(self) -> dict[int, Data]:
        return {}

    async def get_bot_data(self) -> Data:
        return await self._bot.load()

    async def get_callback_data(self) -> CDCData | None:
        data = await self._callback.load()
        if not data:
            return None
        keyboards = [(str(uuid), float(stamp), dict(buttons)) for uuid, stamp, buttons in data["keyboards"]]
        return keyboards, dict(data["queries"])

    async def get_conversations(self, name: str) -> ConversationDict:
        prefix = conversation_prefix(name)
        states = await self.documents.states(prefix)
        return {tuple(json.loads(key[len(prefix):])): json.loads(state) for key, state in states.items()}

    # ------------------------------------------------------------ before every handler: lazy loads

    async def refresh_user_data(self, user_id: int, user_data: Data) -> None:
        await self._user(user_id).refresh(user_data)

    async def refresh_chat_data(self, chat_id: int, chat_data: Data) -> None:
        await self._chat(chat_id).refresh(chat_data)

    async def refresh_bot_data(self, bot_data: Data) -> None:
        await self._bot.refresh(bot_data)

    # ------------------------------------------------------------ hand-over: only what changed

    async def update_user_data(self, user_id: int, data: Data) -> None:
        await self._user(user_id).update(data)

    async def update_chat_data(self, chat_id: int, data: Data) -> None:
        await self._chat(chat_id).update(data)

    async def update_bot_data(self, data: Data) -> None:
        await self._bot.update(data)

    async def update_callback_data(self, data: CDCData) -> None:
        keyboards, queries = data
        await self._callback.update({"keyboards": [list(entry) for entry in keyboards], "queries": dict(queries)})

    async def update_conversation(self, name: str, key: ConversationKey, new_state: object | None) -> None:
        ref = self.documents.document(conversation_prefix(name) + _json(list(key), "a conversation key"))
        await ref.set_state(None if new_state is None else _json(new_state, "a conversation state"))

    async def drop_user_data(self, user_id: int) -> None:
        """Empties the user's session document (it *is* their user_data)."""
        await self._user(user_id).drop()

    async def drop_chat_data(self, chat_id: int) -> None:
        await self._chat(chat_id).drop()

    async def flush(self) -> None:
        """Nothing to do: everything PTB handed over is already in hotstore, which writes it behind to SQL."""
