"""How documents sit in Redis hashes.

A session hash holds one field per top-level key of each document, so a single key can be set or
incremented atomically by a script (Lua in Redis has no msgpack on fakeredis, so values carry a
one-byte type tag that Lua can read):

- ``i<decimal>``: an ``int`` with ``|n| <= 2**53`` (Lua can add to it exactly);
- ``m<msgpack>``: anything else (str, float, bool, None, list, dict, larger ints).

Session fields are ``s:<key>``, stats fields ``t:<key>`` (hotstore.core.constants).

Compact hashes: Redis keeps a hash in its compact listpack encoding only while every field and value is at most
``hash-max-listpack-value`` bytes (64 by default); one longer value turns the whole hash into a hashtable, about
2.5× the memory. So an encoded value longer than :data:`CHUNK_BYTES` is split (see :func:`chunk_value`):

- ``s:<key>`` holds ``c<n>:`` followed by the first part (the head, at most 64 bytes);
- ``s:<key>\x00<i>`` for i = 1 … n-1 hold the following parts (64 bytes each at most).

The head still names the key, so a script sets, deletes or refuses to increment (``c`` is not ``i``) one
top-level key atomically, deleting the old value's parts (patch_session.lua, turn.lua).

The user hash's applied-training marks (``lt``, ``lr``: record_training.lua) are flushed to and loaded from
``users.training_marks``, the document ``{"last": <id>, "recent": [<ids>]}``: see
:func:`training_marks_from_hash` and :func:`training_marks_to_hash`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import msgpack

from hotstore.core.constants import (
    CHUNK_BYTES,
    CHUNK_SEPARATOR,
    LUA_EXACT_INT,
    SESSION_FIELD_PREFIX,
    STATS_FIELD_PREFIX,
    USER_LAST_TRAINING,
    USER_RECENT_TRAININGS,
)
from hotstore.core.errors import InvalidInput

INT_TAG = b"i"
PACKED_TAG = b"m"
CHUNK_TAG = b"c"


class _Packers(threading.local):
    """One reusable ``msgpack.Packer`` per thread: ``msgpack.packb`` builds a new Packer on every call, which costs
    several times the packing of a small value; the bytes are the same (same options, ``autoreset``, and a Packer
    resets its buffer when a value fails to pack). Per thread, as a Packer's buffer is not shared safely."""

    def __init__(self) -> None:
        self.pack = msgpack.Packer(use_bin_type=True).pack


_packers = _Packers()


def chunk_value(name: str, encoded: bytes) -> list[tuple[str, bytes]]:
    """The hash fields of one encoded value: ``[(name, encoded)]`` when it fits :data:`CHUNK_BYTES`, else its
    head (``c<n>:`` + first part) and ``n - 1`` continuation fields ``name\x00<i>``."""
    if len(encoded) <= CHUNK_BYTES:
        return [(name, encoded)]
    if CHUNK_SEPARATOR in name:
        raise InvalidInput(f"document key {name!r} contains NUL, which the hash encoding reserves")
    count = 2
    while CHUNK_BYTES - len(b"c%d:" % count) + (count - 1) * CHUNK_BYTES < len(encoded):
        count += 1
    head_room = CHUNK_BYTES - len(b"c%d:" % count)
    fields = [(name, b"c%d:" % count + encoded[:head_room])]
    for index in range(1, count):
        start = head_room + (index - 1) * CHUNK_BYTES
        fields.append((f"{name}{CHUNK_SEPARATOR}{index}", encoded[start : start + CHUNK_BYTES]))
    return fields


def is_continuation(name: str) -> bool:
    """True for the continuation field of a chunked value (``s:<key>\x00<i>``)."""
    return CHUNK_SEPARATOR in name


def join_chunks(name: str, head: bytes, fields: Mapping[str, bytes]) -> bytes:
    """The encoded value of a chunked head ``c<n>:<part>`` and its continuations in ``fields`` (str names)."""
    count_text, _, first = head[1:].partition(b":")
    parts = [first]
    for index in range(1, int(count_text)):
        part = fields.get(f"{name}{CHUNK_SEPARATOR}{index}")
        if part is None:
            raise ValueError(f"chunked field {name!r} lacks part {index}")
        parts.append(part)
    return b"".join(parts)


def encode_value(value: Any) -> bytes:
    """Encode one document value for a hash field."""
    if isinstance(value, int) and not isinstance(value, bool) and -LUA_EXACT_INT <= value <= LUA_EXACT_INT:
        return INT_TAG + str(value).encode()
    packed: bytes = _packers.pack(value)
    return PACKED_TAG + packed


def decode_value(raw: bytes) -> Any:
    """Inverse of :func:`encode_value`."""
    tag, body = raw[:1], raw[1:]
    if tag == INT_TAG:
        return int(body)
    if tag == PACKED_TAG:
        return msgpack.unpackb(body, raw=False, strict_map_key=False)
    raise ValueError(f"unknown field encoding {raw[:8]!r}")


def encode_document(prefix: str, document: Mapping[str, Any]) -> dict[str, bytes]:
    """``{'a': 1}`` with prefix ``s:`` → ``{'s:a': b'i1'}``."""
    fields: dict[str, bytes] = {}
    for key, value in document.items():
        # exact ints and strs inline (the common values), everything else through encode_value: same bytes
        kind = type(value)
        if kind is int and -LUA_EXACT_INT <= value <= LUA_EXACT_INT:
            fields[prefix + key] = b"i%d" % value
            continue
        encoded = PACKED_TAG + _packers.pack(value) if kind is str else encode_value(value)
        if len(encoded) <= CHUNK_BYTES:
            fields[prefix + key] = encoded
            continue
        fields.update(chunk_value(prefix + key, encoded))
    return fields


def decode_documents(fields: Mapping[bytes | str, bytes]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a session hash into ``(session_data, stats_data)``; metadata fields are ignored."""
    session: dict[str, Any] = {}
    stats: dict[str, Any] = {}
    named = {(name.decode() if isinstance(name, bytes) else name): raw for name, raw in fields.items()}
    for name, raw in named.items():
        if is_continuation(name):
            continue
        if raw[:1] == CHUNK_TAG:
            raw = join_chunks(name, raw, named)
        if name.startswith(SESSION_FIELD_PREFIX):
            session[name[len(SESSION_FIELD_PREFIX) :]] = decode_value(raw)
        elif name.startswith(STATS_FIELD_PREFIX):
            stats[name[len(STATS_FIELD_PREFIX) :]] = decode_value(raw)
    return session, stats


def encoded_size(fields: Mapping[str, bytes]) -> int:
    """Bytes a set of encoded fields takes, for the document size limit."""
    return sum(map(len, fields)) + sum(map(len, fields.values()))


def training_marks_from_hash(fields: Mapping[Any, bytes]) -> dict[str, Any] | None:
    """A user hash's applied-training marks as the ``users.training_marks`` document; ``None`` if it has none.

    ``{b'lt': b'12', b'lr': b'9 12'}`` → ``{'last': 12, 'recent': [9, 12]}``. A malformed mark raises ValueError.
    """
    last = fields.get(USER_LAST_TRAINING.encode())
    recent = fields.get(USER_RECENT_TRAININGS.encode())
    if last is None and recent is None:
        return None
    return {
        "last": int(last) if last is not None else 0,
        "recent": [int(text) for text in (recent or b"").split()],
    }


def training_marks_to_hash(marks: Mapping[str, Any] | None) -> dict[str, str]:
    """Inverse of :func:`training_marks_from_hash`: the ``lt``/``lr`` fields, in record_training.lua's encoding
    (decimal id; ascending ids separated by spaces). ``None`` (no training applied yet) gives no fields."""
    if not marks:
        return {}
    fields: dict[str, str] = {}
    last = int(marks.get("last") or 0)
    recent = sorted(int(applied) for applied in marks.get("recent") or ())
    if last:
        fields[USER_LAST_TRAINING] = str(last)
    if recent:
        fields[USER_RECENT_TRAININGS] = " ".join(str(applied) for applied in recent)
    return fields
