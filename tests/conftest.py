"""Shared fixtures: every backend-dependent test runs on the embedded defaults and, when switched on, on real servers.

Real servers are switched on from outside, by environment:

- ``HOTSTORE_TEST_REDIS_URL``     e.g. ``redis://127.0.0.1:6379/0``
- ``HOTSTORE_TEST_DATABASE_URL``  e.g. ``postgresql://postgres@127.0.0.1:5432/postgres`` (an admin database: each
  test run creates and drops its own database next to it)

Without them the real-server variants are skipped, and the skip reason says which variable to set. With
``CI=true`` a missing variable or an unreachable server is a failure, never a skip.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import fakeredis
import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core.redis_client import connect
from hotstore.core.settings import Settings
from hotstore.core.store import HotStore
from persistence import close_db, init_db
from persistence.engine import create_engine, database_url
from persistence.models import Base

REDIS_ENV = "HOTSTORE_TEST_REDIS_URL"
POSTGRES_ENV = "HOTSTORE_TEST_DATABASE_URL"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def real_server_url(env: str, what: str) -> str:
    """The URL of a real server for a test, or skip (fail in CI) when it is not switched on."""
    url = os.environ.get(env)
    if url:
        return url
    message = f"needs a real {what}: set {env}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: real-server tests must run)")
    pytest.skip(message)


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    for env, what in ((REDIS_ENV, "Redis"), (POSTGRES_ENV, "PostgreSQL")):
        state = os.environ.get(env)
        lines.append(
            f"hotstore: real {what}: {'ON (' + env + ')' if state else 'off — set ' + env + ' to run those tests'}"
        )
    return lines


# ---------------------------------------------------------------- PostgreSQL


@dataclass
class PostgresDatabase:
    """A throw-away database on the real server, unique to this test process."""

    url: str


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[PostgresDatabase]:
    admin_url = real_server_url(POSTGRES_ENV, "PostgreSQL")
    name = f"hs_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = make_url(database_url(admin_url))

    async def run(sql: str) -> None:
        engine = create_engine(admin.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(sql))
        finally:
            await engine.dispose()

    try:
        asyncio.run(run(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the server is switched on but unreachable: that is a failure, not a skip
        pytest.fail(f"PostgreSQL at {POSTGRES_ENV} unreachable: {exc}")
    yield PostgresDatabase(admin.set(database=name).render_as_string(hide_password=False))
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL with no tables yet: a SQLite file, or the real PostgreSQL test database (emptied)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    pg: PostgresDatabase = request.getfixturevalue("postgres_database")
    reset_postgres_schema(pg.url)
    return pg.url


def reset_postgres_schema(url: str, *, create_tables: bool = False) -> None:
    """Empty the PostgreSQL database at ``url`` (drop and recreate its public schema), then create every table
    from the models if ``create_tables``. Synchronous: it runs its own event loop, as session fixtures do."""

    async def reset() -> None:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
                if create_tables:
                    await conn.run_sync(Base.metadata.create_all)
        finally:
            await engine.dispose()

    asyncio.run(reset())


@pytest.fixture
async def sql_engine(sql_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh database with every table created from the models."""
    engine = create_engine(sql_url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield engine
    await engine.dispose()


# ---------------------------------------------------------------- Redis


@pytest.fixture
def namespace() -> str:
    """A key namespace unique to the test, so tests can share a real Redis."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["fake", pytest.param("real", marks=pytest.mark.redis)])
def redis_url(request: pytest.FixtureRequest) -> str | None:
    """``None`` for the embedded fakeredis, or the URL of the real test Redis."""
    if request.param == "fake":
        return None
    return real_server_url(REDIS_ENV, "Redis")


@pytest.fixture
async def redis_client(redis_url: str | None, namespace: str) -> AsyncIterator[aioredis.Redis]:
    """A raw client on the backend under test; keys of the test namespace are deleted afterwards."""
    if redis_url is None:
        import fakeredis

        client: aioredis.Redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    else:
        client = aioredis.Redis.from_url(redis_url)
        try:
            await client.ping()
        except Exception as exc:
            pytest.fail(f"Redis at {REDIS_ENV} unreachable: {exc}")
    yield client
    async for key in client.scan_iter(match="{" + namespace + "}*", count=1000):
        await client.delete(key)
    await client.aclose()


# ---------------------------------------------------------------- stores


@pytest.fixture
async def store_redis() -> AsyncIterator[aioredis.Redis]:
    """The Redis under ``store``: an embedded fakeredis of its own, enough for the durable (SQL-only) operations.
    A module whose tests must also run on real Redis overrides it with one returning ``redis_client``."""
    client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    yield client
    await client.aclose()


@pytest.fixture
async def store(sql_engine: AsyncEngine, sql_url: str, store_redis: aioredis.Redis, namespace: str) -> HotStore:
    """A store on the SQL backend under test and on ``store_redis``, in the test's namespace."""
    settings = Settings(database_url=sql_url, namespace=namespace)
    return await HotStore.open(settings, redis=store_redis, engine=sql_engine)


@asynccontextmanager
async def v4_process(
    monkeypatch: pytest.MonkeyPatch, sql_url: str, redis_url: str | None, namespace: str, *, bot_name: str | None
) -> AsyncIterator[None]:
    """What a v4 bot's main() does: configure by environment (``BOT_NAME`` unset when ``bot_name`` is None),
    ``init_db()``, and ``close_db()`` at the end; the namespace's keys are deleted afterwards."""
    monkeypatch.setenv("DATABASE_URL", sql_url)
    monkeypatch.setenv("HOTSTORE_NAMESPACE", namespace)
    for name, value in (("BOT_NAME", bot_name), ("REDIS_URL", redis_url)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    await init_db()
    try:
        yield
    finally:
        await close_db()
        redis = connect(Settings.from_env())
        async for key in redis.scan_iter(match="{" + namespace + "}*", count=1000):
            await redis.delete(key)
        await redis.aclose()


_FIGURES: list[str] = []


@pytest.fixture
def report_figures(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record a line of figures (kills, updates checked, …) that the run prints at its end, captured or not."""

    def report(line: str) -> None:
        _FIGURES.append(f"{request.node.nodeid}: {line.strip()}")

    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the figures tests reported; say plainly how many tests were skipped for want of a real server."""
    for line in _FIGURES:
        terminalreporter.write_line(f"hotstore figures: {line}")
    skipped = terminalreporter.stats.get("skipped", [])
    reasons: dict[str, int] = {}
    for report in skipped:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        if "needs a real" in reason:
            key = reason.removeprefix("Skipped: ")
            reasons[key] = reasons.get(key, 0) + 1
    for reason, count in sorted(reasons.items()):
        terminalreporter.write_line(f"hotstore: {count} tests skipped: {reason}")
