"""Alembic environment: async engines, batch mode on SQLite, and connection sharing.

``persistence.migrate.upgrade`` passes an open connection in ``config.attributes["connection"]``, so apps
and tests migrate in-process; the ``alembic`` command line gets an engine from ``sqlalchemy.url`` (or
``DATABASE_URL``) instead.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection

from persistence.engine import create_engine, database_url
from persistence.migrate import include_object
from persistence.models import Base

config = context.config
target_metadata = Base.metadata


def configure_context(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        include_object=include_object,
        compare_type=True,
    )


def run_on(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        # Rebuilding a parent table must not cascade to its children (no-op inside a transaction:
        # persistence.migrate.upgrade_on switches it off before anything else).
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    configure_context(connection)
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    context.configure(
        url=database_url(config.get_main_option("sqlalchemy.url")),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool, long_statements=True)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_on)
            await connection.commit()
    finally:
        await engine.dispose()


shared = config.attributes.get("connection")
if shared is not None:
    run_on(shared)
elif context.is_offline_mode():
    run_offline()
else:
    asyncio.run(run_online())
