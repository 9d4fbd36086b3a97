"""Documents: a state label and a JSON-like data document under a key, hot in Redis and written behind to SQL.

A document has one of two homes, behind one API (:class:`DocumentRef`):

- a **bot document** under any string key (``{hs}:d:<bot>:<key>``; SQL ``bot_documents``): framework state that
  belongs to no single user's session, such as aiogram FSM keys of groups, topics, business connections and other
  destinies, or python-telegram-bot's chat_data, bot_data, conversations and callback data;
- a **user's session** in the bot (``{hs}:s:<bot>:<tg>``; SQL ``bot_sessions``): the document's data *is* the
  session's ``session_data``, so hotstore and the framework see one document; its state sits beside it
  (``bot_sessions.fsm_state``).

Both are write-behind entities like users and sessions: every write is one Lua script (``doc_write.lua``) that
bumps the version and marks the entity dirty, and a write that would change nothing writes nothing. A miss is read
through from SQL: a bot document without a row is cached as an empty one (no SQL row is made until it is
written); a session is created with empty documents on first contact, as :meth:`BotStore.get_session` creates one::

    docs = store.bot("quiz_bot").documents
    group = docs.document("fsm:-100:42:::default")
    await group.set_state("Quiz:answering")
    data = await group.update({"score": 1})       # an atomic merge; returns the whole new data
    await docs.session(42).get_value("score")     # reads one hash field, not the whole document
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING, Any, Final

from hotstore.core import constants as c
from hotstore.core.codec import decode_documents, decode_value, encode_document, encoded_size
from hotstore.core.errors import InvalidInput
from hotstore.core.keys import check_document_key, document_member, session_member
from hotstore.core.legacy_layout import DOCUMENT, Entity
from hotstore.core.loader import LoadBlocks, Profile, load_document, load_session, read_document_states
from hotstore.core.redis_client import reachable
from hotstore.core.scripts import DOC_READ, DOC_WRITE
from hotstore.core.validation import check_document, check_optional_text, check_telegram_id

if TYPE_CHECKING:
    from hotstore.core.store import HotStore

__all__ = ["KEEP", "Document", "DocumentRef", "Documents"]

_PREFIX: Final = c.SESSION_FIELD_PREFIX
_KEEP_STATE, _CLEAR_STATE = "-", "x"
_KEEP_DATA, _REPLACE_DATA, _MERGE_DATA = "-", "r", "m"
_SCAN_COUNT = 1000


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final[Any] = _Keep()  # ``patch(state=KEEP)``: leave the state as it is


@dataclass(frozen=True)
class Document:
    """A document as read: its state (``None``: none) and a fresh copy of its data."""

    state: str | None
    data: dict[str, Any]


def _text(raw: bytes | str | None) -> str | None:
    if raw is None:
        return None
    return raw.decode() if isinstance(raw, bytes) else raw


def _data(flat: list[bytes]) -> dict[str, Any]:
    """``[b's:a', b'i1', …]`` (the data fields of a script reply) → ``{'a': 1, …}``."""
    return decode_documents(dict(zip(flat[::2], flat[1::2], strict=True)))[0]


def _state_op(state: object) -> str:
    text = check_optional_text("state", state, max_length=c.MAX_STATE_LENGTH)
    return _CLEAR_STATE if text is None else "=" + text


def _names(what: str, names: Iterable[str]) -> list[str]:
    if isinstance(names, (str, bytes)) or not isinstance(names, Iterable):
        raise InvalidInput(f"{what} must be an iterable of str keys, not {type(names).__name__}: {names!r}")
    fields = []
    for name in names:
        if not isinstance(name, str):
            raise InvalidInput(f"{what}: keys must be str: {name!r}")
        fields.append(_PREFIX + name)
    return list(dict.fromkeys(fields))


class DocumentRef:
    """One document (a bot document or a user's session in one bot). Get one from :class:`Documents`.

    Every call is one round trip when the document is in Redis; data values are JSON-like (hotstore's documents:
    str keys, int64 ints, finite floats), and bad input raises :class:`InvalidInput` before anything is written.
    """

    __slots__ = ("_dirty_set", "_key", "_load", "_member", "_store")

    def __init__(self, store: HotStore, key: str, dirty_set: str, member: str,
                 load: Callable[[], Awaitable[LoadBlocks | None]]) -> None:
        self._store = store
        self._key = key
        self._dirty_set = dirty_set
        self._member = member
        self._load = load

    @property
    def redis_key(self) -> str:
        """The hash this document lives in."""
        return self._key

    async def get(self) -> Document:
        """The state and the whole data."""
        reply = await self._read([0])
        return Document(_text(reply[1]), _data(reply[2]))

    async def get_state(self) -> str | None:
        """The state alone (one hash field)."""
        reply = await self._read([1, c.DOCUMENT_STATE])
        return _text(reply[1][0])

    async def get_value(self, name: str, default: Any = None) -> Any:
        """``data.get(name, default)``, reading only that key's hash field."""
        if not isinstance(name, str):
            raise InvalidInput(f"a document key must be a str: {name!r}")
        raw = (await self._read([1, _PREFIX + name]))[1][0]
        return default if raw is None else decode_value(raw)

    async def set_state(self, state: str | None) -> None:
        """Set the state (``None`` clears it); the data is left alone."""
        await self._write(_state_op(state), _KEEP_DATA, {}, [], reply=False)

    async def set_data(self, data: Mapping[str, Any]) -> None:
        """Replace the data whole (``{}`` empties it); the state is left alone."""
        fields = self._fields(data)
        size = encoded_size(fields)
        if size > self._store.settings.max_document_bytes:
            raise InvalidInput(f"document takes {size} bytes, over the limit of "
                               f"{self._store.settings.max_document_bytes}")
        await self._write(_KEEP_STATE, _REPLACE_DATA, fields, [], reply=False)

    async def update(self, data: Mapping[str, Any] | None = None, *, unset: Iterable[str] = ()) -> dict[str, Any]:
        """Set the top-level keys of ``data`` and delete those of ``unset``, atomically (concurrent updates of
        other keys are all kept); returns the whole data after the change."""
        sets, deletes = self._merge(data, unset)
        reply = await self._write(_KEEP_STATE, _MERGE_DATA, sets, deletes, reply=True)
        return _data(reply[2])

    async def patch(self, data: Mapping[str, Any] | None = None, *, unset: Iterable[str] = (),
                    state: str | None = KEEP) -> int:
        """:meth:`update` without reading the data back, optionally setting the state in the same step;
        returns the document's version."""
        state_op = _KEEP_STATE if state is KEEP else _state_op(state)
        sets, deletes = self._merge(data, unset)
        reply = await self._write(state_op, _MERGE_DATA, sets, deletes, reply=False)
        return int(reply[1])

    def _fields(self, data: object) -> dict[str, bytes]:
        return encode_document(_PREFIX, check_document("data", data))

    def _merge(self, data: Mapping[str, Any] | None, unset: Iterable[str]) -> tuple[dict[str, bytes], list[str]]:
        sets, deletes = self._fields({} if data is None else data), _names("unset", unset)
        both = set(sets) & set(deletes)
        if both:
            raise InvalidInput(f"a key may be set or deleted, not both: {sorted(name[2:] for name in both)}")
        return sets, deletes

    async def _read(self, args: list[Any]) -> list[Any]:
        reply = await self._store.run_script(DOC_READ, [self._key], args, self._load)
        assert reply is not None  # the loaders always load (an empty document or a created session)
        return reply

    async def _write(self, state_op: str, data_op: str, sets: dict[str, bytes], deletes: list[str], *,
                     reply: bool) -> list[Any]:
        args: list[Any] = [self._member, self._store.settings.max_document_bytes, "1" if reply else "0", state_op,
                           data_op, len(sets), *chain.from_iterable(sets.items()), len(deletes), *deletes]
        result = await self._store.run_script(DOC_WRITE, [self._key, self._dirty_set], args, self._load)
        assert result is not None
        return result


def _glob_escape(text: str) -> str:
    """``text`` as a literal inside a Redis MATCH pattern."""
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)


class Documents:
    """One bot's documents: ``store.bot(name).documents``."""

    def __init__(self, store: HotStore, bot_name: str) -> None:
        self._store = store
        self.bot_name = bot_name

    def document(self, key: str) -> DocumentRef:
        """The bot document under ``key`` (1–512 characters, no NUL)."""
        check_document_key(key)
        store, bot = self._store, self.bot_name

        async def load() -> LoadBlocks:
            return [(1, await load_document(store.engine, bot, key))]

        keys = store.keys
        return DocumentRef(store, keys.document(bot, key), keys.document_dirty_set(bot, key), document_member(bot, key),
                           load)

    def session(self, telegram_id: int) -> DocumentRef:
        """The user's session in this bot as a document: data = ``session_data``. Created on first contact, with the
        bot's session defaults (:meth:`HotStore.set_session_defaults`; the framework integrations set empty ones)."""
        check_telegram_id(telegram_id)
        store, bot = self._store, self.bot_name

        async def load() -> LoadBlocks:
            loaded = await load_session(store.engine, telegram_id, bot, create=True, profile=Profile(),
                                        new_documents=store.session_defaults(bot))
            assert loaded is not None
            return [(1, loaded[1])]

        keys = store.keys
        return DocumentRef(store, keys.session(bot, telegram_id), keys.session_dirty_set(telegram_id),
                           session_member(bot, telegram_id), load)

    async def states(self, prefix: str) -> dict[str, str]:
        """``{key: state}`` of every bot document whose key starts with ``prefix`` and that has a state.

        For start-up loads (python-telegram-bot's conversations): the SQL rows, overridden by the dirty documents
        in Redis (read first: a document cleaned after that read was committed to SQL before the SQL read).
        """
        if not isinstance(prefix, str) or len(prefix) > c.MAX_DOCUMENT_KEY_LENGTH:
            raise InvalidInput(f"prefix must be a str of at most {c.MAX_DOCUMENT_KEY_LENGTH} characters: {prefix!r}")
        hot = await self._dirty_states(prefix)
        found = await read_document_states(self._store.engine, self.bot_name, prefix)
        for key, (state, version) in hot.items():
            if key not in found or found[key][1] <= version:
                found[key] = (state, version)
        return {key: state for key, (state, _) in found.items() if state is not None}

    async def _dirty_states(self, prefix: str) -> dict[str, tuple[str | None, int]]:
        keys, redis = self._store.keys, self._store.redis
        pattern = _glob_escape(document_member(self.bot_name, prefix)) + "*"
        start = len(self.bot_name) + 1
        if not self._store.legacy.done:  # dirty documents still in the single-tag layout: adopt them first
            legacy_dirty = self._store.legacy.legacy.dirty_documents
            async with reachable():
                found = [Entity(DOCUMENT, _text(member) or "")
                         async for member, _ in redis.zscan_iter(legacy_dirty, match=pattern, count=_SCAN_COUNT)]
            for begin in range(0, len(found), _SCAN_COUNT):
                await self._store.legacy.adopt(found[begin:begin + _SCAN_COUNT])
        async with reachable():
            members = [_text(member) or "" for shard in keys.all_shards() async for member, _ in
                       redis.zscan_iter(keys.dirty_documents(shard), match=pattern, count=_SCAN_COUNT)]
            document_keys = [member[start:] for member in members]
            async with redis.pipeline(transaction=False) as pipe:
                for key in document_keys:
                    pipe.hmget(keys.document(self.bot_name, key), [c.DOCUMENT_STATE, c.VERSION])
                replies = await pipe.execute() if document_keys else []
        return {key: (_text(state), int(version)) for key, (state, version) in zip(document_keys, replies, strict=True)
                if version is not None}
