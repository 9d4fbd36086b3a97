"""A v4 bot process inside a test: configuration by environment, ``init_db()``, ``close_db()``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from hotstore.core.redis_client import connect
from hotstore.core.settings import Settings
from persistence import close_db, init_db
from tests.support.servers import delete_keys


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
        await delete_keys(redis, namespace)
        await redis.aclose()
