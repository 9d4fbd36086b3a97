"""How each write-behind entity maps from its Redis hash to its SQL row.

Three entities are flushed: users (``users``, conflict key ``telegram_id``), bot sessions
(``bot_sessions``, conflict key ``(user_id, bot_name)``) and bot documents (``bot_documents``, conflict key
``(bot_name, doc_key)``). Each knows its dirty set, its hash key, how to
turn a hash into a row, and the version-guarded upsert that writes a batch of rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table

from hotstore.core import constants as c
from hotstore.core.codec import decode_documents, training_marks_from_hash
from hotstore.core.keys import KeyScheme, parse_document_member, parse_session_member
from persistence.models import BotDocument, BotSession, User
from persistence.upsert import insert_for

Fields = Mapping[Any, bytes]  # HGETALL reply: bytes field names
Row = dict[str, Any]


def _text(fields: Fields, name: str) -> str | None:
    raw = fields.get(name.encode())
    return raw.decode() if raw is not None else None


def _int(fields: Fields, name: str, default: int) -> int:
    raw = fields.get(name.encode())
    return int(raw) if raw is not None else default


def _time(fields: Fields, name: str) -> datetime:
    """An epoch-ms field as an aware datetime; a missing one means "now" (only on a first insert)."""
    raw = fields.get(name.encode())
    if raw is None:
        return datetime.now(UTC)
    return datetime.fromtimestamp(int(raw) / 1000, UTC)


def user_row(member: str, fields: Fields) -> Row | None:
    """The ``users`` row of a user hash (``None`` if the hash has no version: not written by the hot path)."""
    if c.VERSION.encode() not in fields:
        return None
    return {
        "telegram_id": int(member),
        "username": _text(fields, c.USER_USERNAME),
        "first_name": _text(fields, c.USER_FIRST_NAME),
        "last_name": _text(fields, c.USER_LAST_NAME),
        "registration_date": _time(fields, c.USER_REGISTERED_MS),
        "last_activity": _time(fields, c.USER_LAST_ACTIVITY_MS),
        "total_xp": _int(fields, c.USER_XP, 0),
        "level": _int(fields, c.USER_LEVEL, 1),
        "total_trainings": _int(fields, c.USER_TOTAL_TRAININGS, 0),
        "total_score": _int(fields, c.USER_TOTAL_SCORE, 0),
        "week": _text(fields, c.USER_WEEK),
        "week_xp": _int(fields, c.USER_WEEK_XP, 0),
        "training_marks": training_marks_from_hash(fields),  # with the counters: SQL's stay consistent
        "version": _int(fields, c.VERSION, 0),
    }


def session_row(member: str, fields: Fields) -> Row | None:
    """The ``bot_sessions`` row of a session hash (``None`` without a version or a ``users.id``)."""
    if c.VERSION.encode() not in fields or c.SESSION_USER_ID.encode() not in fields:
        return None
    bot_name, _ = parse_session_member(member)
    session_data, stats_data = decode_documents(fields)
    return {
        "user_id": _int(fields, c.SESSION_USER_ID, 0),
        "bot_name": bot_name,
        "session_data": session_data,
        "stats_data": stats_data,
        "xp": _int(fields, c.SESSION_XP, 0),
        "fsm_state": _text(fields, c.DOCUMENT_STATE),
        "created_at": _time(fields, c.SESSION_CREATED_MS),
        "updated_at": _time(fields, c.SESSION_UPDATED_MS),
        "version": _int(fields, c.VERSION, 0),
    }


def document_row(member: str, fields: Fields) -> Row | None:
    """The ``bot_documents`` row of a document hash (``None`` without a version)."""
    if c.VERSION.encode() not in fields:
        return None
    bot_name, key = parse_document_member(member)
    data, _ = decode_documents(fields)  # a document's data is its session-prefixed fields
    return {
        "bot_name": bot_name,
        "doc_key": key,
        "state": _text(fields, c.DOCUMENT_STATE),
        "data": data,
        "created_at": _time(fields, c.DOCUMENT_CREATED_MS),
        "updated_at": _time(fields, c.DOCUMENT_UPDATED_MS),
        "version": _int(fields, c.VERSION, 0),
    }


@dataclass(frozen=True)
class Entity:
    """One kind of write-behind entity: where its dirty marks and hashes live and how it reaches SQL."""

    name: str
    table: Table
    conflict: tuple[str, ...]  # the unique key the upsert targets (and the batch is deduplicated on)
    updated: tuple[str, ...]  # columns an upsert overwrites; the others are kept from the first insert
    dirty_set: Callable[[KeyScheme, int], str]  # the dirty set of one shard
    shard_of: Callable[[KeyScheme, str], int]  # the shard of a dirty member
    hash_key: Callable[[KeyScheme, str], str]
    to_row: Callable[[str, Fields], Row | None]

    def key_of(self, row: Row) -> tuple[Any, ...]:
        return tuple(row[column] for column in self.conflict)

    def upsert(self, dialect_name: str) -> Any:
        """``INSERT … ON CONFLICT (key) DO UPDATE … WHERE table.version <= excluded.version`` (invariant 3).

        An equal version rewrites the row: normally with the same state (a repeated flush), but after a Redis
        rollback the same version can hold different, newer state, and Redis is the truth (invariant 11)."""
        stmt = insert_for(dialect_name, self.table)
        return stmt.on_conflict_do_update(
            index_elements=list(self.conflict),
            set_={column: stmt.excluded[column] for column in self.updated},
            where=self.table.c.version <= stmt.excluded.version,
        )


def _user_key(keys: KeyScheme, member: str) -> str:
    return keys.user(int(member))


def _session_key(keys: KeyScheme, member: str) -> str:
    bot_name, telegram_id = parse_session_member(member)
    return keys.session(bot_name, telegram_id)


USERS = Entity(
    name="users",
    table=User.__table__,  # type: ignore[arg-type]
    conflict=("telegram_id",),
    updated=(
        "username",
        "first_name",
        "last_name",
        "last_activity",
        "total_xp",
        "level",
        "total_trainings",
        "total_score",
        "week",
        "week_xp",
        "training_marks",
        "version",
    ),
    dirty_set=lambda keys, shard: keys.dirty_users(shard),
    shard_of=lambda keys, member: keys.shard_of(int(member)),
    hash_key=_user_key,
    to_row=user_row,
)

SESSIONS = Entity(
    name="sessions",
    table=BotSession.__table__,  # type: ignore[arg-type]
    conflict=("user_id", "bot_name"),
    updated=("session_data", "stats_data", "xp", "fsm_state", "updated_at", "version"),
    dirty_set=lambda keys, shard: keys.dirty_sessions(shard),
    shard_of=lambda keys, member: keys.shard_of(parse_session_member(member)[1]),
    hash_key=_session_key,
    to_row=session_row,
)

def _document_key(keys: KeyScheme, member: str) -> str:
    bot_name, key = parse_document_member(member)
    return keys.document(bot_name, key)


DOCUMENTS = Entity(
    name="documents",
    table=BotDocument.__table__,  # type: ignore[arg-type]
    conflict=("bot_name", "doc_key"),
    updated=("state", "data", "updated_at", "version"),
    dirty_set=lambda keys, shard: keys.dirty_documents(shard),
    shard_of=lambda keys, member: keys.document_shard(*parse_document_member(member)),
    hash_key=_document_key,
    to_row=document_row,
)

ENTITIES = (USERS, SESSIONS, DOCUMENTS)  # users first: a session row references its user's row

__all__ = ["DOCUMENTS", "ENTITIES", "SESSIONS", "USERS", "Entity"]
