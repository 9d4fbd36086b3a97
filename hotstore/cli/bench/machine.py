"""One line per fact about where the figures were measured: CPU, cores, server and client versions."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import redis
import redis.asyncio as aioredis
import sqlalchemy
from sqlalchemy import text

from persistence.engine import create_engine


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


async def redis_version(url: str) -> str:
    client = aioredis.Redis.from_url(url)
    try:
        info = await client.info("server")
        return str(info.get("redis_version", "?"))
    finally:
        await client.aclose()


async def postgres_version(url: str | None) -> str:
    if not url:
        return "not used"
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            version = (await conn.execute(text("SHOW server_version"))).scalar_one()
            return str(version)
    finally:
        await engine.dispose()


async def describe_machine(redis_url: str, postgres_url: str | None) -> str:
    try:
        import hiredis  # noqa: F401

        parser = "hiredis"
    except ImportError:
        parser = "pure-Python parser"
    return "\n".join(
        [
            f"machine: {os.cpu_count()} cores ({cpu_model()}), {platform.system()} {platform.release()}",
            f"servers: Redis {await redis_version(redis_url)} and PostgreSQL {await postgres_version(postgres_url)}"
            " on the same machine (loopback)",
            f"client: Python {platform.python_version()}, redis-py {redis.__version__} ({parser}), "
            f"SQLAlchemy {sqlalchemy.__version__}, one process, one event loop",
        ]
    )
