"""Running the baseline rows: the v4 way on PostgreSQL and SQLite, and the raw redis-py floor."""

from __future__ import annotations

import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from hotstore.cli.bench.counting import RoundTrips, count_sql, counting_redis
from hotstore.cli.bench.floor import FloorPath, fill_floor
from hotstore.cli.bench.report import FLOOR
from hotstore.cli.bench.v4_baseline import V4Database, V4Path, seed_sql
from hotstore.cli.bench.workload import Contender, RunResult, Workload
from hotstore.core.keys import KeyScheme
from persistence.engine import create_engine, database_url
from persistence.models import Base


async def _admin(admin_url: str, sql: str) -> None:
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@asynccontextmanager
async def postgres_database(admin_url: str) -> AsyncIterator[str]:
    """A throw-away database next to ``admin_url``'s, dropped on exit; yields its URL."""
    admin = make_url(database_url(admin_url))
    name = f"hs_bench_{uuid.uuid4().hex[:10]}"
    await _admin(admin.render_as_string(hide_password=False), f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            await _admin(admin.render_as_string(hide_password=False), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except Exception as exc:  # a busy shared server must not throw away the figures of a finished run
            print(f"warning: could not drop the bench database {name}: {type(exc).__name__}: {exc}", file=sys.stderr)


@asynccontextmanager
async def sqlite_database() -> AsyncIterator[str]:
    """A SQLite file in a temporary directory, removed on exit; yields its URL."""
    with tempfile.TemporaryDirectory(prefix="hs_bench_") as folder:
        yield f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"


async def prepare_database(url: str, workload: Workload) -> None:
    """Create every table at ``url`` and seed the workload's users and sessions (untimed)."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        await seed_sql(engine, workload)
    finally:
        await engine.dispose()


@asynccontextmanager
async def v4_contender(name: str, url: str) -> AsyncIterator[Contender]:
    """The v4 way on the prepared database at ``url``; notes the "database is locked" retries of each run."""
    engine = create_engine(url)
    counter = RoundTrips()
    count_sql(engine, counter)
    db = V4Database(engine)
    seen = {"retries": 0}

    def note(_result: RunResult) -> str:
        retries, seen["retries"] = db.retries - seen["retries"], db.retries
        return f"{retries} 'database is locked' retries" if retries else ""

    try:
        yield Contender(name, V4Path(db), counter, note)
    finally:
        await engine.dispose()


@asynccontextmanager
async def prepared_sqlite(workload: Workload) -> AsyncIterator[str]:
    """A SQLite file with the tables and the workload's users and sessions."""
    async with sqlite_database() as url:
        await prepare_database(url, workload)
        yield url


@asynccontextmanager
async def floor_contender(redis_url: str, workload: Workload) -> AsyncIterator[Contender]:
    """The floor in a namespace of its own, filled (untimed) and deleted on exit."""
    counter = RoundTrips()
    redis = counting_redis(redis_url, counter)
    keys = KeyScheme(f"bench{uuid.uuid4().hex[:10]}")
    try:
        await fill_floor(redis, keys, workload)
        yield Contender(FLOOR, FloorPath(redis, keys), counter)
    finally:
        await delete_namespace(redis, keys)
        await redis.aclose()


async def delete_namespace(redis: object, keys: KeyScheme) -> None:
    """UNLINK every key of ``keys``'s namespace."""
    client = redis
    batch: list[bytes] = []
    async for key in client.scan_iter(match=keys.namespace_pattern, count=1000):  # type: ignore[attr-defined]
        batch.append(key)
        if len(batch) >= 1000:
            await client.unlink(*batch)  # type: ignore[attr-defined]
            batch.clear()
    if batch:
        await client.unlink(*batch)  # type: ignore[attr-defined]
