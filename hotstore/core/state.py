"""What the hot store hands back: immutable snapshots of a user, a bot session, an XP award, a patch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import msgpack

from hotstore.core import constants as c
from hotstore.core.codec import CHUNK_TAG, INT_TAG, PACKED_TAG, decode_documents, decode_value, join_chunks
from persistence.models import v4_user_dict


def _ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def hash_fields(flat: list[bytes]) -> dict[str, bytes]:
    """``[b'a', b'1', b'b', b'2']`` (an HGETALL reply from Lua) → ``{'a': b'1', 'b': b'2'}``."""
    return {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}


_SESSION_PREFIX = c.SESSION_FIELD_PREFIX.encode()
_STATS_PREFIX = c.STATS_FIELD_PREFIX.encode()
_PREFIX_LENGTH = len(_SESSION_PREFIX)
_unpackb = msgpack.unpackb
assert len(_STATS_PREFIX) == _PREFIX_LENGTH


_SESSION, _STATS, _META, _PART = 0, 1, 2, 3  # _PART: a continuation field of a chunked value
_FIELD_NAMES: dict[bytes, tuple[int, str]] = {}  # b's:chat_state' -> (_SESSION, 'chat_state'): names repeat
_FIELD_NAMES_MAX = 4096  # documents are bots' own schemas, so a few hundred names; never grow past this
_CHUNK_SEPARATOR = c.CHUNK_SEPARATOR

# Decoded scalar values by their encoding (b'i0' -> 0, b'm\xaftraining_active' -> 'training_active'): most fields
# of most sessions hold one of a few values (counters at 0, states, flags, None), and a dictionary hit costs a
# fraction of msgpack's call. Only immutable results are kept (the same object may then sit in many documents);
# lists and dicts are decoded anew every time. Bounded: emptied when full, so it follows what values are common.
_SCALAR_VALUES: dict[bytes, Any] = {}
_SCALAR_VALUES_MAX = 4096
_SCALAR_RAW_MAX = 24  # bytes of an encoding worth keeping (a long text is rarely shared)
_SCALAR_TYPES = frozenset({int, str, float, bool, type(None)})
_ABSENT = object()


def _field_name(name: bytes) -> tuple[int, str]:
    """Which part of a session hash ``name`` belongs to, and its decoded key (remembered, up to a bound)."""
    prefix = name[:_PREFIX_LENGTH]
    if prefix == _SESSION_PREFIX:
        known = (_SESSION, name[_PREFIX_LENGTH:].decode())
    elif prefix == _STATS_PREFIX:
        known = (_STATS, name[_PREFIX_LENGTH:].decode())
    else:
        known = (_META, name.decode())
    if known[0] != _META and _CHUNK_SEPARATOR in known[1]:  # a continuation may hold any bytes
        known = (_PART, name.decode())
    if len(_FIELD_NAMES) < _FIELD_NAMES_MAX:
        _FIELD_NAMES[name] = known
    return known


def session_reply(flat: list[bytes], encodings: tuple[dict[str, bytes], dict[str, bytes]] | None = None,
                   ) -> tuple[dict[str, Any], dict[str, Any], dict[str, bytes]]:
    """A session hash's HGETALL reply → ``(session_data, stats_data, metadata fields)`` in one pass: the same
    documents as :func:`hotstore.core.codec.decode_documents` of :func:`hash_fields` (names decoded once).

    ``encodings``, when given, receives the encoding of every list and dict value (session's, stats'), as
    :func:`hotstore.core.codec.encode_value` gives it: what :class:`hotstore.core.turn.Turn` compares with on exit.
    """
    session: dict[str, Any] = {}
    stats: dict[str, Any] = {}
    meta: dict[str, bytes] = {}
    documents = (session, stats)
    name_of = _FIELD_NAMES.get  # bound once: two lookups per field
    scalar_of = _SCALAR_VALUES.get
    chunked: dict[str, bytes] = {}  # heads and continuations of values split over several fields
    if len(flat) % 2:
        raise ValueError(f"a hash reply has an even number of parts, not {len(flat)}")
    pairs = iter(flat)
    for name, raw in zip(pairs, pairs, strict=True):  # (name, value) in turn, no copy of the reply into two slices
        where, key = name_of(name) or _field_name(name)
        if where >= _META:
            if where == _META:
                meta[key] = raw
            else:
                chunked[key] = raw
            continue
        value = scalar_of(raw, _ABSENT)  # a head (tag c) is never kept: only i and m encodings are
        if value is not _ABSENT:
            documents[where][key] = value
            continue
        tag = raw[:1]
        if tag == INT_TAG:
            value = int(raw[1:])
        elif tag == PACKED_TAG:  # decode_value's msgpack branch, inlined
            value = _unpackb(raw[1:], raw=False, strict_map_key=False)
        elif tag == CHUNK_TAG:
            chunked[name.decode()] = raw
            continue
        else:
            value = decode_value(raw)  # raises on an unknown tag
        documents[where][key] = value
        if type(value) in _SCALAR_TYPES:
            _remember(raw, value)
        elif encodings is not None:
            encodings[where][key] = raw
    if chunked:
        _join_chunked(chunked, documents, encodings)
    return session, stats, meta


def _remember(raw: bytes, value: Any) -> None:
    if len(raw) <= _SCALAR_RAW_MAX:
        if len(_SCALAR_VALUES) >= _SCALAR_VALUES_MAX:
            _SCALAR_VALUES.clear()
        _SCALAR_VALUES[raw] = value


def _join_chunked(chunked: dict[str, bytes], documents: tuple[dict[str, Any], dict[str, Any]],
                  encodings: tuple[dict[str, bytes], dict[str, bytes]] | None) -> None:
    """Decode the values split over several fields (heads and continuations in ``chunked``) into ``documents``."""
    for head, raw in chunked.items():
        if raw[:1] == CHUNK_TAG and _CHUNK_SEPARATOR not in head:
            name = head.encode()
            where, key = _FIELD_NAMES.get(name) or _field_name(name)
            encoded = join_chunks(head, raw, chunked)
            value = documents[where][key] = decode_value(encoded)
            if encodings is not None and type(value) not in _SCALAR_TYPES:
                encodings[where][key] = encoded


def _text(fields: Mapping[str, bytes], name: str) -> str | None:
    raw = fields.get(name)
    return raw.decode() if raw is not None else None


def _int(fields: Mapping[str, bytes], name: str, default: int = 0) -> int:
    raw = fields.get(name)
    return int(raw) if raw is not None else default


@dataclass(frozen=True)
class UserState:
    """One user as the hot store holds it (shared by every bot)."""

    telegram_id: int
    id: int
    username: str | None
    first_name: str | None
    last_name: str | None
    total_xp: int
    level: int
    total_trainings: int
    total_score: int
    registration_date: datetime
    last_activity: datetime
    version: int

    @classmethod
    def from_hash(cls, fields: Mapping[str, bytes]) -> UserState:
        """Decode a user hash (field names: hotstore.core.constants ``USER_*``)."""
        get = fields.get  # what _int and _text do, inlined: this runs on every get_session
        telegram_id, user_id = get(c.USER_TELEGRAM_ID), get(c.USER_ID)
        username, first_name, last_name = get(c.USER_USERNAME), get(c.USER_FIRST_NAME), get(c.USER_LAST_NAME)
        xp, level = get(c.USER_XP), get(c.USER_LEVEL)
        trainings, score = get(c.USER_TOTAL_TRAININGS), get(c.USER_TOTAL_SCORE)
        registered, active, version = get(c.USER_REGISTERED_MS), get(c.USER_LAST_ACTIVITY_MS), get(c.VERSION)
        return cls(
            telegram_id=int(telegram_id) if telegram_id is not None else 0,
            id=int(user_id) if user_id is not None else 0,
            username=username.decode() if username is not None else None,
            first_name=first_name.decode() if first_name is not None else None,
            last_name=last_name.decode() if last_name is not None else None,
            total_xp=int(xp) if xp is not None else 0,
            level=int(level) if level is not None else 1,
            total_trainings=int(trainings) if trainings is not None else 0,
            total_score=int(score) if score is not None else 0,
            registration_date=_ms_to_datetime(int(registered) if registered is not None else 0),
            last_activity=_ms_to_datetime(int(active) if active is not None else 0),
            version=int(version) if version is not None else 0,
        )

    def to_dict(self) -> dict[str, Any]:
        """v4's ``User.to_dict()``: no ``total_score``, timestamps as ISO strings."""
        return v4_user_dict(self)


@dataclass(frozen=True)
class SessionState:
    """One user's state in one bot: the documents, the XP earned in this bot, and the user."""

    user: UserState
    bot_name: str
    session: dict[str, Any]
    stats: dict[str, Any]
    xp: int
    version: int

    @classmethod
    def from_reply(cls, bot_name: str, user: list[bytes], session: list[bytes]) -> SessionState:
        """From the flat HGETALL replies of the user hash and the session hash (what the scripts return)."""
        session_data, stats_data, meta = session_reply(session)
        return cls(
            user=UserState.from_hash(hash_fields(user)),
            bot_name=bot_name,
            session=session_data,
            stats=stats_data,
            xp=_int(meta, c.SESSION_XP),
            version=_int(meta, c.VERSION),
        )

    @classmethod
    def from_hashes(cls, bot_name: str, user: Mapping[str, bytes], session: Mapping[str, bytes]) -> SessionState:
        session_data, stats_data = decode_documents(cast(Mapping[bytes | str, bytes], session))
        return cls(
            user=UserState.from_hash(user),
            bot_name=bot_name,
            session=session_data,
            stats=stats_data,
            xp=_int(session, c.SESSION_XP),
            version=_int(session, c.VERSION),
        )


@dataclass(frozen=True)
class LevelUp:
    """The outcome of one XP award. ``total_xp`` is the user's total, ``bot_xp`` the XP earned in this bot."""

    leveled_up: bool
    old_level: int
    new_level: int
    total_xp: int
    bot_xp: int

    def to_dict(self) -> dict[str, Any]:
        """v4's ``add_xp_and_check_level_up`` reply."""
        return {
            "leveled_up": self.leveled_up,
            "old_level": self.old_level,
            "new_level": self.new_level,
            "total_xp": self.total_xp,
        }


@dataclass(frozen=True)
class PatchResult:
    """The session's new version, and the new values of the fields that were incremented."""

    version: int
    session_values: dict[str, int] = field(default_factory=dict)
    stats_values: dict[str, int] = field(default_factory=dict)
