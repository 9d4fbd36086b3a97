"""Portable upserts: PostgreSQL and SQLite share the ``ON CONFLICT`` API, under different constructors."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.dml import Insert

from persistence.models import User


def insert_for(dialect_name: str, table: Table | Any) -> Any:
    """``INSERT`` with ``on_conflict_do_update``/``on_conflict_do_nothing`` for the dialect in use."""
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for dialect {dialect_name!r}")


def dialect_of(conn: AsyncSession | AsyncConnection) -> str:
    if isinstance(conn, AsyncConnection):
        return conn.dialect.name
    bind = conn.get_bind()
    return bind.dialect.name


async def ensure_user_id(
    session: AsyncSession | AsyncConnection,
    telegram_id: int,
    *,
    username: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
) -> int:
    """``users.id`` of ``telegram_id``, inserting the row if absent; race-free (insert-or-ignore, then select).

    Profile fields are written only on insert: an existing row's hot fields belong to the write-behind.
    """
    stmt: Insert = insert_for(dialect_of(session), User).values(
        telegram_id=telegram_id, username=username, first_name=first_name, last_name=last_name
    )
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["telegram_id"]))  # type: ignore[attr-defined]
    user_id = (await session.execute(select(User.id).where(User.telegram_id == telegram_id))).scalar_one()
    return int(user_id)


def utc_now() -> Any:
    """``now()`` evaluated by the database."""
    return func.now()
