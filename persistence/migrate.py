"""Schema migrations, programmatically: ``upgrade`` (used by ``hotstore db upgrade``) and friends.

Alembic is configured in code, so it works from an installed package; ``persistence/alembic.ini`` is only for
developers running ``alembic -c persistence/alembic.ini revision --autogenerate``.

A database without Alembic's ``alembic_version`` table but with a ``users`` table was made by ``create_all``:
by the v4 module (no ``users.version`` column, stamped at ``0001_v4_baseline`` and upgraded from there) or by
hotstore's own ``init_db`` (stamped at head, or at ``0002_hotstore`` if it predates ``users.training_marks``, or
at ``0003_training_marks`` if it predates ``bot_documents``, then upgraded). docs/migrations.md has the details.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from persistence.engine import create_engine, database_url
from persistence.models import Base

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
V4_BASELINE = "0001_v4_baseline"
HOTSTORE_BASELINE = "0002_hotstore"  # the schema create_all made before users.training_marks (0003)
TRAINING_MARKS = "0003_training_marks"  # … and before bot_documents and bot_sessions.fsm_state (0004)
BOT_DOCUMENTS = "0004_bot_documents"  # … and before users.week / users.week_xp (0005)
# Tables v4 created that hotstore leaves alone (docs/migrations.md); autogenerate must not drop them.
LEGACY_TABLES = frozenset({"training_users"})


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Autogenerate filter: hide v4's legacy tables."""
    return not (type_ == "table" and reflected and compare_to is None and name in LEGACY_TABLES)


def schema_differences(connection: Connection) -> list[Any]:
    """What autogenerate would change to make the database equal the models (``[]`` when they agree)."""
    context = MigrationContext.configure(
        connection, opts={"include_object": include_object, "compare_type": True, "target_metadata": Base.metadata}
    )
    return list(compare_metadata(context, Base.metadata))


def alembic_config(url: str | None = None) -> Config:
    """An Alembic ``Config`` for hotstore's migrations on ``url`` (default: ``DATABASE_URL`` or SQLite)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolates '%': escape it (URL-encoded passwords contain it).
    config.set_main_option("sqlalchemy.url", database_url(url).replace("%", "%%"))
    return config


def unversioned_baseline(connection: Connection) -> str | None:
    """The revision an existing database that Alembic never touched is at, or ``None`` (versioned or empty)."""
    inspector = inspect(connection)
    tables = set(inspector.get_table_names())
    if "alembic_version" in tables or "users" not in tables:
        return None
    columns = {column["name"] for column in inspector.get_columns("users")}
    if "version" not in columns:
        return V4_BASELINE
    if "training_marks" not in columns:
        return HOTSTORE_BASELINE
    session_columns = {column["name"] for column in inspector.get_columns("bot_sessions")}
    if "fsm_state" not in session_columns or "bot_documents" not in tables:
        return TRAINING_MARKS
    return "head" if "week_xp" in columns else BOT_DOCUMENTS


def head_revision() -> str:
    """The newest revision this version of hotstore knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def schema_behind(connection: Connection) -> str | None:
    """What made the database, when its schema is older than this version's models; ``None`` when current or empty."""
    baseline = unversioned_baseline(connection)
    if baseline is not None:
        if baseline == "head":
            return None
        return "the v4 module" if baseline == V4_BASELINE else "an older hotstore (never stamped)"
    current = MigrationContext.configure(connection).get_current_revision()
    if current is None or current == head_revision():
        return None
    return f"an older hotstore (revision {current})"


def upgrade_on(connection: Connection, revision: str = "head") -> None:
    """Upgrade the database of an open (sync) connection to ``revision``; the caller commits.

    For use inside ``AsyncConnection.run_sync``. On SQLite, foreign keys are switched off for the
    connection first: rebuilding a table must not cascade or fail on its children.
    """
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")  # only effective outside a transaction: do it first
    config = alembic_config()
    config.attributes["connection"] = connection
    baseline = unversioned_baseline(connection)
    if baseline is not None:
        command.stamp(config, baseline)
    command.upgrade(config, revision)


async def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Bring the database at ``url`` (default ``DATABASE_URL``, else the SQLite file) to ``revision``.

    An empty database is created; a v4 database is detected, stamped and upgraded. On PostgreSQL the whole
    upgrade is one transaction. Example::

        await upgrade("postgresql://bot@db/bots")
    """
    engine = create_engine(url, poolclass=NullPool, long_statements=True)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(upgrade_on, revision)
            await connection.commit()
    finally:
        await engine.dispose()


def upgrade_sync(url: str | None = None, revision: str = "head") -> None:
    """``upgrade`` for synchronous callers (the CLI); must not be called from a running event loop."""
    asyncio.run(upgrade(url, revision))


async def current_revision(url: str | None = None) -> str | None:
    """The revision the database at ``url`` is stamped with, or ``None``."""
    engine = create_engine(url, poolclass=NullPool, long_statements=True)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
    finally:
        await engine.dispose()
