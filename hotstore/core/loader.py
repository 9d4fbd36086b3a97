"""Read-through: load a user, a bot session or a bot document from SQL, creating rows if asked (docs/design.md).

One SQL transaction inserts what is absent (``INSERT … ON CONFLICT DO NOTHING``, race-free) and selects
the rows; the result is returned as hash fields that a hot-path script writes into Redis only where the
key is still absent (invariant 6). Loaded entities carry their SQL ``version`` and start clean.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hotstore.core import constants as c
from hotstore.core.codec import encode_document, training_marks_to_hash
from hotstore.core.defaults import default_session, default_stats
from hotstore.core.sql_errors import sql_reachable
from persistence.models import BotDocument, BotSession, User
from persistence.upsert import ensure_user_id, insert_for

HashFields = dict[str, bytes | str]
# (index into a script's KEYS, fields): a hash the script writes only where that key is absent.
LoadBlocks = list[tuple[int, HashFields]]


@dataclass(frozen=True)
class Profile:
    """Names written into a user row created by the load (an existing row's names are left alone)."""

    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None


def _ms(value: datetime) -> str:
    return str(int(value.timestamp() * 1000))


def user_fields(row: User) -> HashFields:
    """A ``users`` row as user-hash fields (absent names stay absent: absent means None), with the
    applied-training marks that go with its counters (``lt``/``lr``, record_training.lua's encoding)."""
    fields: HashFields = {
        c.USER_ID: str(row.id),
        c.USER_TELEGRAM_ID: str(row.telegram_id),
        c.USER_XP: str(row.total_xp),
        c.USER_LEVEL: str(row.level),
        c.USER_TOTAL_TRAININGS: str(row.total_trainings),
        c.USER_TOTAL_SCORE: str(row.total_score),
        c.USER_REGISTERED_MS: _ms(row.registration_date),
        c.USER_LAST_ACTIVITY_MS: _ms(row.last_activity),
        c.VERSION: str(row.version),
    }
    fields.update(training_marks_to_hash(row.training_marks))  # the ids already counted in tt/ts
    if row.week is not None:  # the weekly board's score: the XP of that ISO week (a user field, flushed)
        fields[c.USER_WEEK] = row.week
        fields[c.USER_WEEK_XP] = str(row.week_xp)
    for name, value in ((c.USER_USERNAME, row.username), (c.USER_FIRST_NAME, row.first_name),
                        (c.USER_LAST_NAME, row.last_name)):
        if value is not None:
            fields[name] = value
    return fields


def session_fields(row: BotSession) -> HashFields:
    """A ``bot_sessions`` row as session-hash fields (one field per top-level document key)."""
    fields: HashFields = {
        c.SESSION_USER_ID: str(row.user_id),
        c.SESSION_XP: str(row.xp),
        c.SESSION_CREATED_MS: _ms(row.created_at),
        c.SESSION_UPDATED_MS: _ms(row.updated_at),
        c.VERSION: str(row.version),
    }
    if row.fsm_state is not None:
        fields[c.DOCUMENT_STATE] = row.fsm_state
    fields.update(encode_document(c.SESSION_FIELD_PREFIX, row.session_data or {}))
    fields.update(encode_document(c.STATS_FIELD_PREFIX, row.stats_data or {}))
    return fields


def document_fields(row: BotDocument | None) -> HashFields:
    """A ``bot_documents`` row as document-hash fields; no row gives an empty document at version 0 (written to
    Redis like a loaded one, so a document that exists nowhere costs one SQL read per idle TTL, not per call)."""
    if row is None:
        return {c.VERSION: "0"}
    fields: HashFields = {
        c.DOCUMENT_CREATED_MS: _ms(row.created_at),
        c.DOCUMENT_UPDATED_MS: _ms(row.updated_at),
        c.VERSION: str(row.version),
    }
    if row.state is not None:
        fields[c.DOCUMENT_STATE] = row.state
    fields.update(encode_document(c.SESSION_FIELD_PREFIX, row.data or {}))
    return fields


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One transaction; SQL out of reach (refused, lost, too many clients, pool exhausted) is StoreUnavailable."""
    async with sql_reachable(), engine.begin() as conn:
        yield conn


async def _ensure_user(conn: AsyncConnection, telegram_id: int, profile: Profile) -> int:
    """Insert the user's row with ``profile``'s names if absent (race-free); the row's id."""
    return await ensure_user_id(conn, telegram_id, username=profile.username,
                                first_name=profile.first_name, last_name=profile.last_name)


async def _user_row(conn: AsyncConnection, telegram_id: int) -> User | None:
    result = await conn.execute(select(User.__table__).where(User.telegram_id == telegram_id))
    row = result.mappings().one_or_none()
    return User(**row) if row is not None else None


async def load_user(engine: AsyncEngine, telegram_id: int, *, create: bool, profile: Profile) -> HashFields | None:
    """The user's hash fields from SQL; the row is inserted first when ``create``. None if absent."""
    async with transaction(engine) as conn:
        if create:
            await _ensure_user(conn, telegram_id, profile)
        row = await _user_row(conn, telegram_id)
    return user_fields(row) if row is not None else None


async def load_session(
    engine: AsyncEngine, telegram_id: int, bot_name: str, *, create: bool, profile: Profile,
    new_documents: tuple[dict[str, Any], dict[str, Any]] | None = None,
) -> tuple[HashFields, HashFields] | None:
    """``(user fields, session fields)`` from SQL; with ``create``, absent rows are inserted first
    (a new session gets ``new_documents`` as (session_data, stats_data), by default v4's default documents).
    None if either row is absent and not created."""
    session_data, stats_data = new_documents if new_documents is not None else (default_session(), default_stats())
    async with transaction(engine) as conn:
        if create:
            user_id = await _ensure_user(conn, telegram_id, profile)
            insert = insert_for(conn.dialect.name, BotSession).values(
                user_id=user_id, bot_name=bot_name, session_data=session_data, stats_data=stats_data
            )
            await conn.execute(insert.on_conflict_do_nothing(index_elements=["user_id", "bot_name"]))
        user = await _user_row(conn, telegram_id)
        if user is None:
            return None
        query = select(BotSession.__table__).where(BotSession.user_id == user.id, BotSession.bot_name == bot_name)
        row = (await conn.execute(query)).mappings().one_or_none()
    if row is None:
        return None
    return user_fields(user), session_fields(BotSession(**row))


async def load_document(engine: AsyncEngine, bot_name: str, key: str) -> HashFields:
    """A bot document's hash fields from SQL (:func:`document_fields`: an empty one if it has no row yet)."""
    query = select(BotDocument.__table__).where(BotDocument.bot_name == bot_name, BotDocument.doc_key == key)
    async with transaction(engine) as conn:
        row = (await conn.execute(query)).mappings().one_or_none()
    return document_fields(BotDocument(**row) if row is not None else None)


async def read_document_states(engine: AsyncEngine, bot_name: str, prefix: str) -> dict[str, tuple[str | None, int]]:
    """``{doc_key: (state, version)}`` of a bot's document rows whose key starts with ``prefix``."""
    query = select(BotDocument.doc_key, BotDocument.state, BotDocument.version).where(
        BotDocument.bot_name == bot_name, BotDocument.doc_key.startswith(prefix, autoescape=True))
    async with transaction(engine) as conn:
        rows = (await conn.execute(query)).all()
    return {str(key): (state, int(version)) for key, state, version in rows}
