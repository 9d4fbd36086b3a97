"""Read-through (docs/design.md): entities only in SQL are served with their SQL values, loaded clean, and a
write landing while a load is in flight is never overwritten by the load (invariant 6). SQL: SQLite and PG."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore import HotStore
from hotstore.core.keys import session_member
from persistence.models import BotSession, User
from tests.support.dirty import dirty_count, dirty_score

TG = 5_000_000_001
REGISTERED = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


async def seed_sql(engine: AsyncEngine) -> int:
    """A user with XP and a spin session, as the flush would have left them."""
    async with engine.begin() as conn:
        user_id = (await conn.execute(insert(User).values(
            telegram_id=TG, username="old", first_name="Ann", total_xp=750, level=8, total_trainings=3,
            total_score=90, registration_date=REGISTERED, last_activity=REGISTERED, version=7,
        ).returning(User.id))).scalar_one()
        await conn.execute(insert(BotSession).values(
            user_id=user_id, bot_name="spin", session_data={"chat_state": "training_active", "question_count": 4},
            stats_data={"best_score": 88}, xp=600, version=11,
        ))
    return int(user_id)


async def test_a_user_only_in_sql_is_served_with_sql_values(store: HotStore, sql_engine: AsyncEngine) -> None:
    user_id = await seed_sql(sql_engine)
    state = await store.bot("spin").get_session(TG)
    assert (state.session, state.stats) == ({"chat_state": "training_active", "question_count": 4}, {"best_score": 88})
    assert (state.xp, state.version) == (600, 11)
    user = state.user
    assert (user.id, user.username, user.total_xp, user.level, user.total_trainings, user.total_score) == (
        user_id, "old", 750, 8, 3, 90)
    assert user.registration_date == REGISTERED


async def test_get_user_reads_through_from_sql(store: HotStore, sql_engine: AsyncEngine) -> None:
    await seed_sql(sql_engine)
    user = await store.get_user(TG)
    assert user is not None
    assert (user.total_xp, user.level, user.version) == (750, 8, 7)


async def test_loaded_entities_start_clean_with_the_idle_ttl(
    store: HotStore, sql_engine: AsyncEngine, redis_client: aioredis.Redis
) -> None:
    await seed_sql(sql_engine)
    await store.get_user(TG)
    await store.bot("spin").get_session(TG)  # last_activity is old: the touch dirties the user, not the session
    assert 0 < await redis_client.pttl(store.keys.session("spin", TG)) <= store.settings.idle_ttl * 1000
    assert await dirty_count(redis_client, store.keys, "sessions") == 0


async def test_xp_on_a_loaded_user_adds_to_the_sql_totals(store: HotStore, sql_engine: AsyncEngine) -> None:
    await seed_sql(sql_engine)
    outcome = await store.bot("spin").add_xp(TG, 100)
    assert (outcome.total_xp, outcome.bot_xp, outcome.old_level, outcome.new_level) == (850, 700, 8, 9)


async def test_a_loaded_entity_keeps_counting_versions_from_sql(store: HotStore, sql_engine: AsyncEngine) -> None:
    await seed_sql(sql_engine)
    assert await store.bot("spin").save_session(TG, {"a": 1}) == 12


async def test_a_write_during_the_load_is_not_overwritten(
    store: HotStore, sql_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the MISS and the load script, another call loads and writes: its write survives."""
    await seed_sql(sql_engine)
    real_load = store.cold_loads.session
    intercepted = False

    async def load_then_race(*args: Any, **kwargs: Any) -> Any:
        nonlocal intercepted
        loaded = await real_load(*args, **kwargs)  # the SQL snapshot, now stale
        if not intercepted:
            intercepted = True
            await store.bot("spin").add_xp(TG, 5)
            await store.bot("spin").patch_session(TG, session={"raced": True})
        return loaded

    monkeypatch.setattr(store.cold_loads, "session", load_then_race)
    outcome = await store.bot("spin").add_xp(TG, 10)
    state = await store.bot("spin").get_session(TG)
    assert (outcome.total_xp, outcome.bot_xp) == (765, 615)
    assert state.session["raced"] is True
    assert state.version == 11 + 3  # the SQL version, then three writes: racing add_xp, patch, ours
    assert intercepted


async def test_a_user_write_during_the_user_load_is_not_overwritten(
    store: HotStore, sql_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch, redis_client: aioredis.Redis
) -> None:
    await seed_sql(sql_engine)
    real_load = store.cold_loads.user
    intercepted = False

    async def load_then_race(*args: Any, **kwargs: Any) -> Any:
        nonlocal intercepted
        loaded = await real_load(*args, **kwargs)
        if not intercepted:
            intercepted = True
            await store.ensure_user(TG, username="new")
        return loaded

    monkeypatch.setattr(store.cold_loads, "user", load_then_race)
    user = await store.get_user(TG)
    assert user is not None and user.username == "new"
    assert await dirty_score(redis_client, store.keys, "users", str(TG)) is not None


async def test_reset_of_a_session_only_in_sql_resets_it(store: HotStore, sql_engine: AsyncEngine) -> None:
    await seed_sql(sql_engine)
    assert await store.bot("spin").reset_session(TG) is True
    assert (await store.bot("spin").get_session(TG)).session["chat_state"] == "new"


async def test_first_contact_racing_in_tasks_creates_one_user(
    store: HotStore, redis_client: aioredis.Redis
) -> None:
    states = await asyncio.gather(*(store.bot(bot).get_session(TG) for bot in ("a", "b", "a", "b")))
    assert len({state.user.id for state in states}) == 1
    assert await dirty_score(redis_client, store.keys, "sessions", session_member("a", TG)) is None
