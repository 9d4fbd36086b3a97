"""hotstore as the FSM storage of aiogram 3 bots, a middleware giving handlers their ``BotStore``, and event isolation.

Install with ``pip install "hotstore[aiogram]"`` (aiogram's core package: its ``redis`` extra is not needed)::

    store = await HotStore.open()
    names = {1001: "quiz_a", 1002: "quiz_b"}.__getitem__          # Telegram bot id -> hotstore bot name
    storage = HotstoreStorage(store, bot_name=names)
    dp = Dispatcher(storage=storage, events_isolation=storage.create_isolation())
    dp.update.outer_middleware(HotstoreMiddleware(store, bot_name=names))

    @dp.message(Command("quiz"))
    async def quiz(message: Message, state: FSMContext, hot: BotStore) -> None:
        await state.set_state(Quiz.answering)
        await hot.add_xp(message.from_user.id, 10)

Where a :class:`StorageKey` lives:

- a private chat (``chat_id == user_id``), no topic, no business connection, the default destiny: in the user's
  session in that bot. The FSM data *is* the session's ``session_data`` (what ``hot.get_session()`` shows), the
  state sits beside it (``bot_sessions.fsm_state``);
- any other key (groups, topics, business connections, aiogram-dialog's destinies): the bot document
  ``fsm:<chat>:<user>:<thread>:<business connection>:<destiny>`` (``bot_documents``).

Both are write-behind entities: a write is one Lua script in Redis, flushed to SQL by the hotstore worker.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

from aiogram import BaseMiddleware, Bot
from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import DEFAULT_DESTINY, BaseEventIsolation, BaseStorage, StateType, StorageKey
from aiogram.types import TelegramObject
from redis.exceptions import LockError

from hotstore.core import constants as c
from hotstore.core.documents import DocumentRef, Documents
from hotstore.core.errors import HotstoreError, InvalidInput
from hotstore.core.keys import check_bot_name
from hotstore.core.redis_client import reachable
from hotstore.core.store import HotStore

__all__ = ["BotNames", "HotstoreEventIsolation", "HotstoreMiddleware", "HotstoreStorage", "IsolationTimeout",
           "fsm_document_key"]

log = logging.getLogger(__name__)

BotNameArg = str | Callable[[int], str]


class IsolationTimeout(HotstoreError, TimeoutError):
    """An event lock could not be taken within its wait: another handler of the key holds it."""


class BotNames:
    """Telegram bot id → hotstore bot name, from a fixed name or a callable; two bot ids never share a name.

    A fixed name serves exactly one Telegram bot (the first one seen): a second one raises :class:`InvalidInput`
    rather than mix its users' state into the first one's. Each name's new sessions start empty
    (:meth:`HotStore.set_session_defaults`): the FSM data and the session are one document.
    """

    def __init__(self, store: HotStore, bot_name: BotNameArg) -> None:
        self._store = store
        if isinstance(bot_name, str):
            store.set_session_defaults(bot_name, {})  # checks the name too
        elif not callable(bot_name):
            raise InvalidInput(f"bot_name must be a hotstore bot name or a callable from bot id to name: {bot_name!r}")
        self._spec = bot_name
        self._names: dict[int, str] = {}
        self._owners: dict[str, int] = {}

    def __call__(self, bot_id: int) -> str:
        name = self._names.get(bot_id)
        if name is not None:
            return name
        try:
            name = check_bot_name(self._spec if isinstance(self._spec, str) else self._spec(bot_id))
        except LookupError as exc:  # e.g. a dict's __getitem__: a bot nobody gave a name
            raise InvalidInput(f"no hotstore bot name for Telegram bot {bot_id}: {exc!r}") from exc
        owner = self._owners.setdefault(name, bot_id)
        if owner != bot_id:
            raise InvalidInput(f"Telegram bots {owner} and {bot_id} both map to hotstore bot {name!r}: their state "
                               "would mix (pass bot_name a callable giving each bot its own name)")
        self._store.set_session_defaults(name, {})
        self._names[bot_id] = name
        return name


def is_session_key(key: StorageKey) -> bool:
    """Whether ``key`` is a user's own private chat with the default destiny (it lives in their bot session)."""
    return (key.chat_id == key.user_id and key.thread_id is None and key.business_connection_id is None
            and key.destiny == DEFAULT_DESTINY)


def fsm_document_key(key: StorageKey) -> str:
    """``fsm:<chat>:<user>:<thread or ''>:<business connection, %-quoted>:<destiny>``: one string per key, unambiguous
    (the only free-text parts are quoted or last)."""
    thread = "" if key.thread_id is None else str(key.thread_id)
    business = quote(key.business_connection_id or "", safe="")
    return f"fsm:{key.chat_id}:{key.user_id}:{thread}:{business}:{key.destiny}"


class HotstoreStorage(BaseStorage):
    """aiogram's FSM storage on hotstore. ``update_data`` is one atomic script (no read-merge-write);
    ``get_value`` reads one hash field; ``close()`` may be called by every dispatcher sharing the store.

    :param store: the open :class:`HotStore` (left open by :meth:`close` unless ``close_store``).
    :param bot_name: a hotstore bot name, or a callable from the Telegram bot id to one (one Dispatcher, many bots).
    :param close_store: close ``store`` on the first :meth:`close`.
    """

    def __init__(self, store: HotStore, *, bot_name: BotNameArg, close_store: bool = False) -> None:
        self.store = store
        self.bot_names = BotNames(store, bot_name)
        self._close_store = close_store
        self._closed = False

    def document(self, key: StorageKey) -> DocumentRef:
        """The hotstore document behind ``key``."""
        documents = Documents(self.store, self.bot_names(key.bot_id))
        if is_session_key(key):
            return documents.session(key.user_id)
        return documents.document(fsm_document_key(key))

    def create_isolation(self, *, timeout: float = c.EVENT_LOCK_TIMEOUT_S,
                         wait: float = c.EVENT_LOCK_WAIT_S) -> HotstoreEventIsolation:
        """An event isolation on the same store and bot names (a lock per key)."""
        return HotstoreEventIsolation(self.store, bot_name=self.bot_names, timeout=timeout, wait=wait)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await self.document(key).set_state(state.state if isinstance(state, State) else state)

    async def get_state(self, key: StorageKey) -> str | None:
        return await self.document(key).get_state()

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self.document(key).set_data(_mapping(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return (await self.document(key).get()).data

    async def get_value(self, storage_key: StorageKey, dict_key: str, default: Any | None = None) -> Any | None:
        return await self.document(storage_key).get_value(dict_key, default)

    async def update_data(self, key: StorageKey, data: Mapping[str, Any]) -> dict[str, Any]:
        return await self.document(key).update(_mapping(data))

    async def close(self) -> None:
        """Idempotent; closes the store only with ``close_store=True`` (once)."""
        if self._closed:
            return
        self._closed = True
        if self._close_store:
            await self.store.close()


def _mapping(data: object) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise DataNotDictLikeError(f"Data must be a dict or dict-like object, got {type(data).__name__}")
    return data


class HotstoreEventIsolation(BaseEventIsolation):
    """One lock per :class:`StorageKey` in the store's Redis (``{ns}:lock:ev:<bot>:<key>``), for bots whose
    handlers must run one at a time per user.

    :param timeout: seconds after which a lock expires by itself (a crashed handler does not block the key).
    :param wait: seconds a handler waits for the lock before :class:`IsolationTimeout`.
    """

    def __init__(self, store: HotStore, *, bot_name: BotNameArg | BotNames, timeout: float = c.EVENT_LOCK_TIMEOUT_S,
                 wait: float = c.EVENT_LOCK_WAIT_S) -> None:
        for what, value in (("timeout", timeout), ("wait", wait)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise InvalidInput(f"{what} must be a positive number of seconds: {value!r}")
        self.store = store
        self.bot_names = bot_name if isinstance(bot_name, BotNames) else BotNames(store, bot_name)
        self.timeout = float(timeout)
        self.wait = float(wait)

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        name = self.store.keys.event_lock(self.bot_names(key.bot_id), fsm_document_key(key))
        lock = self.store.redis.lock(name, timeout=self.timeout, blocking_timeout=self.wait)
        async with reachable():
            acquired = await lock.acquire()
        if not acquired:
            raise IsolationTimeout(f"event lock {name} still held after {self.wait} s")
        try:
            yield
        finally:
            try:
                async with reachable():
                    await lock.release()
            except LockError:  # it expired while the handler ran (longer than timeout): nothing left to release
                log.warning("event lock %s expired before its handler finished (timeout %s s)", name, self.timeout)

    async def close(self) -> None:
        """Nothing to close: the locks live in the store's Redis."""


class HotstoreMiddleware(BaseMiddleware):
    """Gives every handler a ``hot`` argument: the :class:`BotStore` of the update's bot.

    ``dp.update.outer_middleware(HotstoreMiddleware(store, bot_name=...))``
    """

    def __init__(self, store: HotStore, *, bot_name: BotNameArg | BotNames) -> None:
        self.store = store
        self.bot_names = bot_name if isinstance(bot_name, BotNames) else BotNames(store, bot_name)

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        bot: Bot = data["bot"]
        data["hot"] = self.store.bot(self.bot_names(bot.id))
        return await handler(event, data)
