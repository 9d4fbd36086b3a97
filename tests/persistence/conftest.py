"""Fixtures of the persistence tests: an ORM session on the SQL axis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from persistence.engine import sessionmaker_for


@pytest.fixture
async def db(sql_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """An ORM session on ``sql_engine`` (SQLite and PostgreSQL, every table created)."""
    async with sessionmaker_for(sql_engine)() as session:
        yield session
