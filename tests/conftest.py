"""Shared fixtures: every backend-dependent test runs on the embedded defaults and, when switched on, on real servers.

Two backend axes, one fixture each (``tests/support/servers.py`` says how real servers are switched on):

- ``redis_url``: ``fake`` (a private fakeredis) or ``real`` (``HOTSTORE_TEST_REDIS_URL``); ``redis_client`` is a
  client on it, ``namespace`` the test's own key namespace;
- ``sql_url``: ``sqlite`` (a fresh file) or ``postgres`` (a throw-away database next to
  ``HOTSTORE_TEST_DATABASE_URL``); ``sql_engine`` is an engine on it with every table created.

Stores, each named after what it is:

- ``store`` / ``make_store(**settings)``: a HotStore on both axes (``redis_client`` × ``sql_engine``);
- ``hot_store`` / ``make_hot_store(**settings)``: a HotStore on the Redis axis only, over ``sqlite_engine`` (a
  throw-away SQLite file), for behaviour that lives in Redis;
- ``store_settings``: Settings naming both axes by URL (for code that connects by itself), keys deleted after.

``private_redis(*options)`` starts a ``redis-server`` of the test's own (free port, temp dir, stopped by pid) for
tests that configure Redis in ways the shared server must not be (tests/support/redis_server.py).

The embedded default is pinned to fakeredis for the whole run (``HOTSTORE_EMBEDDED_REDIS=fakeredis``, set below
before anything builds Settings; a run may set it to ``server`` itself): a store opened without a Redis then stays
in-process, as the suite's "fake" axis means, and no test starts a redis-server child unless it asks for one
(tests/core/test_embedded_redis.py). pytest has no environment option of its own without a plugin, hence here.

Fixture names are unique across the suite (tests/test_suite_layout.py checks it): an area's conftest.py or a
test module adds fixtures of its own, never a second definition of a name.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core.cluster import RedisClient, connect_cluster, is_cluster_url
from hotstore.core.redis_client import connect
from hotstore.core.settings import Settings
from hotstore.core.store import HotStore
from persistence.engine import create_engine, database_url
from persistence.models import Base
from tests.support.cluster import LocalCluster
from tests.support.hot_entities import delete_namespace
from tests.support.redis_server import RedisServer, redis_server_missing
from tests.support.servers import (
    IN_CI,
    POSTGRES_ENV,
    REDIS_ENV,
    PostgresDatabase,
    delete_keys,
    real_server_url,
    reset_postgres_schema,
)
from tests.support.stores import StoreFactory

os.environ.setdefault("HOTSTORE_EMBEDDED_REDIS", "fakeredis")  # see the module docstring


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    for env, what in ((REDIS_ENV, "Redis"), (POSTGRES_ENV, "PostgreSQL")):
        state = os.environ.get(env)
        lines.append(
            f"hotstore: real {what}: {'ON (' + env + ')' if state else 'off — set ' + env + ' to run those tests'}"
        )
    return lines


# ---------------------------------------------------------------- SQL axis


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[PostgresDatabase]:
    """A database of this test process on the real PostgreSQL, dropped at the end of the session."""
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


async def _engine_with_tables(url: str) -> AsyncEngine:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    return engine


@pytest.fixture
async def sql_engine(sql_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh database of the SQL axis with every table created from the models."""
    engine = await _engine_with_tables(sql_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A throw-away SQLite file with every table created: the SQL side of a test about Redis (not an axis)."""
    engine = await _engine_with_tables(f"sqlite+aiosqlite:///{tmp_path / 'hot.db'}")
    yield engine
    await engine.dispose()


# ---------------------------------------------------------------- Redis axis


@pytest.fixture
def namespace() -> str:
    """A key namespace unique to the test, so tests can share a real Redis."""
    return f"t{uuid.uuid4().hex[:12]}"


REDIS_AXIS = ["fake", pytest.param("real", marks=pytest.mark.redis)]
CLUSTER_AXIS = [*REDIS_AXIS, pytest.param("cluster", marks=pytest.mark.cluster)]


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test module marked ``on_cluster`` runs its ``redis_url`` tests on the local Redis Cluster as well (a
    parametrize mark, added before pytest reads the marks, replaces the fixture's own params)."""
    if "redis_url" in metafunc.fixturenames and metafunc.definition.get_closest_marker("on_cluster"):
        metafunc.definition.add_marker(pytest.mark.parametrize("redis_url", CLUSTER_AXIS, indirect=True))


@pytest.fixture(params=REDIS_AXIS)
def redis_url(request: pytest.FixtureRequest) -> str | None:
    """``None`` for the embedded fakeredis, the URL of the real test Redis, or (modules marked ``on_cluster``) a
    node of the session's local Redis Cluster."""
    if request.param == "fake":
        return None
    if request.param == "cluster":
        url: str = request.getfixturevalue("redis_cluster_url")
        return url
    return real_server_url(REDIS_ENV, "Redis")


@pytest.fixture
async def redis_client(redis_url: str | None, namespace: str) -> AsyncIterator[RedisClient]:
    """A raw client on the backend under test (a private fakeredis for ``fake``); the namespace's keys are
    deleted afterwards."""
    client: RedisClient
    if redis_url is None:
        client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    elif is_cluster_url(redis_url):
        client = connect_cluster(redis_url)
    else:
        client = aioredis.Redis.from_url(redis_url)
        try:
            await client.ping()
        except Exception as exc:
            pytest.fail(f"Redis at {REDIS_ENV} unreachable: {exc}")
    yield client
    await delete_keys(client, namespace)
    await client.aclose()


# ---------------------------------------------------------------- stores


async def _store_factory(redis: RedisClient, engine: AsyncEngine, namespace: str) -> AsyncIterator[StoreFactory]:
    """Open stores on ``redis`` and ``engine`` in ``namespace`` with any Settings changes; close them after."""
    opened: list[HotStore] = []

    async def make(**changes: Any) -> HotStore:
        settings = Settings(database_url=engine.url.render_as_string(hide_password=False), namespace=namespace,
                            **changes)
        hot = await HotStore.open(settings, redis=redis, engine=engine)
        opened.append(hot)
        return hot

    yield make
    for hot in opened:
        await hot.close()


@pytest.fixture
async def make_store(redis_client: RedisClient, sql_engine: AsyncEngine, namespace: str) -> AsyncIterator[
        StoreFactory]:
    """``await make_store(**settings)``: a HotStore on both axes, with those Settings changes."""
    async for make in _store_factory(redis_client, sql_engine, namespace):
        yield make


@pytest.fixture
async def store(make_store: StoreFactory) -> HotStore:
    """A HotStore with default settings on both axes: the Redis under test and the SQL under test."""
    return await make_store()


@pytest.fixture
async def make_hot_store(redis_client: RedisClient, sqlite_engine: AsyncEngine, namespace: str) -> AsyncIterator[
        StoreFactory]:
    """``await make_hot_store(**settings)``: a HotStore on the Redis axis over a throw-away SQLite."""
    async for make in _store_factory(redis_client, sqlite_engine, namespace):
        yield make


@pytest.fixture
async def hot_store(make_hot_store: StoreFactory) -> HotStore:
    """A HotStore with default settings on the Redis axis only, over a throw-away SQLite."""
    return await make_hot_store()


@pytest.fixture
async def store_settings(redis_url: str | None, sql_url: str, namespace: str) -> AsyncIterator[Settings]:
    """Settings naming both axes by URL (the process-wide embedded fakeredis when ``redis_url`` is None), for code
    that connects by itself; the namespace's keys and its arq keys are deleted afterwards. No tables are created:
    ask for ``sql_engine`` as well when the test needs them."""
    settings = Settings(database_url=sql_url, redis_url=redis_url, namespace=namespace)
    yield settings
    client = connect(settings)
    await delete_namespace(client, namespace)
    await client.aclose()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """``private_redis(*options)``: a started ``redis-server`` of this test (extra command-line options, e.g.
    ``"--maxmemory-policy", "allkeys-lru"``) in its own dir; every one is stopped by pid at the end."""
    missing = redis_server_missing()
    if missing:
        if IN_CI:
            pytest.fail(missing)
        pytest.skip(missing)
    started: list[RedisServer] = []

    def start(*options: str) -> RedisServer:
        directory = tmp_path / f"redis-{len(started)}"
        directory.mkdir()
        server = RedisServer(directory, options)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A local 3-master Redis Cluster of this test run (tests/support/cluster.py), stopped by pid at the end;
    skipped without ``redis-server`` (a failure with CI=true)."""
    missing = redis_server_missing()
    if missing:
        if IN_CI:
            pytest.fail(missing)
        pytest.skip(missing)
    cluster = LocalCluster(tmp_path_factory.mktemp("redis-cluster"))
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def redis_cluster_url(redis_cluster: LocalCluster) -> str:
    """The URL of one master of the session's local Redis Cluster (any node will do)."""
    return redis_cluster.url


# ---------------------------------------------------------------- figures and the run's summary

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
