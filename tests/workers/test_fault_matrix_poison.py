"""Fault-matrix rows for poison data (issue 12, part A), on the real Redis and PostgreSQL.

Each test reports one row of the README's fault table with ``report_figures``: how many writes were
acknowledged, how many reached SQL, how many stayed in Redis, how many were lost (always 0) and which typed
errors callers saw. Poison offered through the API is refused before anything is written; poison planted in
Redis behind the API's back refuses only its own row.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.cli.migrate_json import migrate_json
from hotstore.core.codec import encode_value
from hotstore.core.errors import InvalidInput, StoreUnavailable
from hotstore.core.keys import session_member
from hotstore.core.settings import Settings
from hotstore.core.store import HotStore
from hotstore.durable import Badges
from hotstore.writebehind.runner import WriteBehind
from persistence.engine import create_engine
from persistence.models import BotSession, User
from tests.support.dirty import dirty_score
from tests.support.pg_refusing import too_many_clients_server

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

BOT = "spin_bot"
USERS = 200
POISON: list[Any] = ["a\x00b", "a\ud800b", {"k\x00": 1}, {"\udfff": [1]}, [["deep", "x\x00"]]]


@pytest.fixture
async def real_store(real_redis: aioredis.Redis, pg_engine: AsyncEngine, pg_url: str,
                     namespace: str) -> AsyncIterator[HotStore]:
    """A HotStore on the real Redis and the real PostgreSQL test database."""
    hot = await HotStore.open(Settings(database_url=pg_url, namespace=namespace), redis=real_redis, engine=pg_engine)
    yield hot
    await hot.close()


async def _sql_documents(engine: AsyncEngine) -> dict[int, Any]:
    query = select(User.telegram_id, BotSession.session_data).join(BotSession, BotSession.user_id == User.id)
    async with engine.connect() as conn:
        return {int(tg): data.get("n") for tg, data in (await conn.execute(query)).all()}


async def test_poison_documents_through_the_api_are_refused_and_the_rest_reach_sql(
    real_store: HotStore, report_figures: Callable[[str], None]
) -> None:
    bot = real_store.bot(BOT)
    acknowledged: dict[int, int] = {}
    errors: set[str] = set()
    for tg in range(1, USERS + 1):
        poison = POISON[tg % len(POISON)] if tg % 10 == 0 else None
        try:
            if tg % 20 == 5:
                await bot.get_session(tg, username=f"ann\ud83d{tg}")
            await bot.save_session(tg, {"n": tg} if poison is None else {"n": tg, "bad": poison})
            acknowledged[tg] = tg
        except InvalidInput:
            errors.add("InvalidInput")
    totals = await WriteBehind.open(real_store.settings, redis=real_store.redis, engine=real_store.engine).drain()

    in_sql = await _sql_documents(real_store.engine)
    lost = sum(1 for tg, n in acknowledged.items() if in_sql.get(tg) != n)
    assert lost == 0 and totals.remaining == 0 and totals.rejected == 0
    assert all(tg not in in_sql or in_sql[tg] is None for tg in range(1, USERS + 1) if tg not in acknowledged)
    report_figures(f"row=poison documents acknowledged={len(acknowledged)} sql={len(acknowledged) - lost} "
                   f"redis=0 lost={lost} refused_calls={USERS - len(acknowledged)} errors={','.join(sorted(errors))}")


async def test_poison_planted_in_redis_refuses_only_its_own_row(
    real_store: HotStore, report_figures: Callable[[str], None]
) -> None:
    bot = real_store.bot(BOT)
    await asyncio.gather(*(bot.save_session(tg, {"n": tg}) for tg in range(1, USERS + 1)))
    planted = [17, 101]
    for tg in planted:
        await real_store.redis.hset(real_store.keys.session(BOT, tg), "s:bad", encode_value("a\x00b"))
    cycle = WriteBehind.open(real_store.settings, redis=real_store.redis, engine=real_store.engine)

    totals = await cycle.drain()
    status = await cycle.status()

    in_sql = await _sql_documents(real_store.engine)
    reached = sum(1 for tg in range(1, USERS + 1) if tg not in planted and in_sql.get(tg) == tg)
    still_dirty = [tg for tg in planted
                   if await dirty_score(real_store.redis, real_store.keys, "sessions", session_member(BOT, tg))]
    assert reached == USERS - len(planted) and still_dirty == planted and totals.rejected == len(planted)
    assert status["refused_count"] == len(planted)
    report_figures(f"row=poison planted in redis acknowledged={USERS} sql={reached} redis={len(still_dirty)} "
                   f"lost=0 refused_rows={status['refused_count']} errors=none")


async def test_poison_records_in_a_v4_dump_are_reported_and_the_rest_imported(
    pg_url: str, real_redis_url: str, namespace: str, tmp_path: Path, report_figures: Callable[[str], None]
) -> None:
    lines = [f'"{tg}": {{"session": {{"n": {tg}}}, "stats": {{}}}}' for tg in range(1, USERS + 1)]
    lines[9] = '"10": {"session": {"n": "a\\u0000b"}, "stats": {}}'
    lines[19] = '"20": {"session": {"n": "\\ud800"}, "stats": {}}'
    lines[29] = '"30": {"session": {"n": 1, "n": 2}, "stats": {}}'
    lines[39] = '"40": {"session": {"n": ' + "9" * 5000 + '}, "stats": {}}'
    path = tmp_path / "users_data.json"
    path.write_text("{" + ", ".join(lines) + "}", encoding="utf-8")
    settings = Settings(database_url=pg_url, redis_url=real_redis_url, namespace=namespace)

    report = await migrate_json(path, bot_name=BOT, settings=settings, progress=None)

    assert sorted(bad.key for bad in report.bad_records) == ["10", "20", "30", "40"]
    assert report.users_written == USERS - 4
    report_figures(f"row=poison json import records={USERS} sql={report.users_written} "
                   f"reported={len(report.bad_records)} lost=0 errors=none (reported by id)")


async def test_too_many_clients_is_store_unavailable_and_loses_nothing(
    real_redis: aioredis.Redis, namespace: str, report_figures: Callable[[str], None]
) -> None:
    async with too_many_clients_server() as url:
        hot = await HotStore.open(Settings(database_url=url, namespace=namespace), redis=real_redis,
                                  engine=create_engine(url))
        errors: set[str] = set()
        for call in (lambda: hot.bot(BOT).get_session(1), lambda: Badges(hot).award(1, "first_win")):
            try:
                await call()
            except StoreUnavailable:
                errors.add("StoreUnavailable")
        await hot.engine.dispose()
        await hot.close()
    assert errors == {"StoreUnavailable"}
    report_figures("row=sql too many clients acknowledged=0 sql=0 redis=0 lost=0 errors=StoreUnavailable")
