"""Contract of HotStore / BotStore, over every backend: fakeredis and real Redis, SQLite and PostgreSQL.

The ``store`` fixture (tests/conftest.py) is parametrized over both axes; tests that open a store of their own
with other settings take ``redis_client`` and ``sql_engine``, the same two axes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore import (
    DEFAULT_SESSION,
    DEFAULT_STATS,
    UNSET,
    HotStore,
    InvalidInput,
    LevelTable,
    NotFound,
    Settings,
    StoreUnavailable,
)
from hotstore.core.keys import board_member, iso_week, session_member
from hotstore.core.redis_client import connect, embedded_server
from persistence.models import BotSession, User
from tests.support.dirty import dirty_count, dirty_score

pytestmark = pytest.mark.on_cluster  # the redis_url tests run on the local Redis Cluster too

TG = 1_000_000_001


async def sql_count(engine: AsyncEngine, model: type[User] | type[BotSession]) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(model))).scalar_one())


# ---------------------------------------------------------------- get_session


async def test_first_contact_creates_user_and_session_with_v4_defaults(store: HotStore) -> None:
    state = await store.bot("spin").get_session(TG, username="ann", first_name="Ann")
    assert state.session == dict(DEFAULT_SESSION)
    assert state.stats == dict(DEFAULT_STATS)
    assert (state.user.telegram_id, state.user.username, state.user.first_name) == (TG, "ann", "Ann")
    assert (state.user.total_xp, state.user.level, state.xp, state.bot_name) == (0, 1, 0, "spin")


async def test_first_contact_writes_user_and_session_rows_to_sql(store: HotStore) -> None:
    state = await store.bot("spin").get_session(TG)
    async with store.engine.connect() as conn:
        user_id = (await conn.execute(select(User.id).where(User.telegram_id == TG))).scalar_one()
        bots = (await conn.execute(select(BotSession.bot_name).where(BotSession.user_id == user_id))).scalars().all()
    assert state.user.id == user_id
    assert bots == ["spin"]


async def test_a_plain_read_leaves_user_and_session_clean(store: HotStore, redis_client: aioredis.Redis) -> None:
    bot = store.bot("spin")
    await bot.get_session(TG)
    await bot.get_session(TG)
    assert await dirty_count(redis_client, store.keys, "users") == 0
    assert await dirty_count(redis_client, store.keys, "sessions") == 0


async def test_reads_keep_a_clean_entity_on_its_idle_ttl(store: HotStore, redis_client: aioredis.Redis) -> None:
    await store.bot("spin").get_session(TG)
    ttl = await redis_client.pttl(store.keys.session("spin", TG))
    assert 0 < ttl <= store.settings.idle_ttl * 1000


async def test_a_changed_name_is_written_and_marks_the_user_dirty(
    store: HotStore, redis_client: aioredis.Redis
) -> None:
    bot = store.bot("spin")
    await bot.get_session(TG, username="ann")
    state = await bot.get_session(TG, username="anna")
    assert state.user.username == "anna"
    assert state.user.version == 1
    assert await dirty_score(redis_client, store.keys, "users", str(TG)) is not None
    assert await redis_client.pttl(store.keys.user(TG)) == -1


async def test_unset_and_empty_names_leave_the_name_and_none_clears_it(store: HotStore) -> None:
    bot = store.bot("spin")
    await bot.get_session(TG, username="ann", first_name="Ann", last_name="Lee")
    state = await bot.get_session(TG, username=UNSET, first_name="", last_name=None)
    assert (state.user.username, state.user.first_name, state.user.last_name) == ("ann", "Ann", None)


async def test_last_activity_moves_only_after_the_resolution(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, namespace: str
) -> None:
    async with await HotStore.open(Settings(namespace=namespace, activity_resolution=0),
                                   redis=redis_client, engine=sql_engine) as hot:
        first = await hot.bot("spin").get_session(TG)
        await redis_client.hset(hot.keys.user(TG), "la", 1000)  # pretend the last message was in 1970
        second = await hot.bot("spin").get_session(TG)
    assert second.user.last_activity >= first.user.last_activity
    assert second.user.last_activity.year >= 2024
    assert second.user.version == first.user.version + 1


async def test_sessions_of_two_bots_are_separate(store: HotStore) -> None:
    await store.bot("a").save_session(TG, {"where": "a"})
    state_b = await store.bot("b").get_session(TG)
    state_a = await store.bot("a").get_session(TG)
    assert state_a.session == {"where": "a"}
    assert state_b.session == dict(DEFAULT_SESSION)
    assert state_a.user.id == state_b.user.id


# ---------------------------------------------------------------- save_session


async def test_save_replaces_both_documents_whole(store: HotStore) -> None:
    bot = store.bot("spin")
    await bot.get_session(TG)
    await bot.save_session(TG, {"chat_state": "training_active", "nested": {"a": [1, 2.5, None]}}, {"best": 3})
    state = await bot.get_session(TG)
    assert state.session == {"chat_state": "training_active", "nested": {"a": [1, 2.5, None]}}
    assert state.stats == {"best": 3}


async def test_save_without_stats_keeps_the_stats(store: HotStore) -> None:
    bot = store.bot("spin")
    await bot.save_session(TG, {"a": 1}, {"kept": True})
    await bot.save_session(TG, {"b": 2})
    state = await bot.get_session(TG)
    assert (state.session, state.stats) == ({"b": 2}, {"kept": True})


async def test_save_returns_increasing_versions(store: HotStore) -> None:
    bot = store.bot("spin")
    versions = [await bot.save_session(TG, {"n": n}) for n in range(3)]
    assert versions == [1, 2, 3]
    assert (await bot.get_session(TG)).version == 3


async def test_save_marks_the_session_dirty_without_ttl(store: HotStore, redis_client: aioredis.Redis) -> None:
    await store.bot("spin").save_session(TG, {"a": 1})
    assert await dirty_score(redis_client, store.keys, "sessions", session_member("spin", TG)) is not None
    assert await redis_client.pttl(store.keys.session("spin", TG)) == -1


async def test_save_keeps_the_first_dirty_time(store: HotStore, redis_client: aioredis.Redis) -> None:
    bot = store.bot("spin")
    await bot.save_session(TG, {"a": 1})
    first = await dirty_score(redis_client, store.keys, "sessions", session_member("spin", TG))
    await bot.save_session(TG, {"a": 2})
    assert await dirty_score(redis_client, store.keys, "sessions", session_member("spin", TG)) == first


async def test_save_for_an_unknown_user_creates_user_and_session(store: HotStore) -> None:
    version = await store.bot("spin").save_session(TG, {"a": 1})
    assert version == 1
    assert await sql_count(store.engine, User) == 1
    assert await sql_count(store.engine, BotSession) == 1


@pytest.mark.parametrize("document", [{"a": {1, 2}}, {1: "x"}, {"a": float("nan")}, {"a": b"raw"}, {"a": 2**64}])
async def test_save_refuses_what_json_cannot_hold(store: HotStore, document: dict[object, object]) -> None:
    with pytest.raises(InvalidInput):
        await store.bot("spin").save_session(TG, document)  # type: ignore[arg-type]


async def test_save_refuses_a_document_over_the_size_limit(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, namespace: str
) -> None:
    async with await HotStore.open(Settings(namespace=namespace, max_document_bytes=100),
                                   redis=redis_client, engine=sql_engine) as hot:
        with pytest.raises(InvalidInput, match="over the limit"):
            await hot.bot("spin").save_session(TG, {"text": "x" * 200})


# ---------------------------------------------------------------- patch_session


async def test_patch_sets_increments_and_deletes_in_one_call(store: HotStore) -> None:
    bot = store.bot("spin")
    await bot.save_session(TG, {"question_count": 4, "old": 1, "keep": "k"}, {"total_questions": 10})
    result = await bot.patch_session(
        TG, session={"chat_state": "x"}, incr_session={"question_count": 1, "fresh": 2},
        incr_stats={"total_questions": -3}, unset_session=["old"],
    )
    state = await bot.get_session(TG)
    assert state.session == {"question_count": 5, "fresh": 2, "chat_state": "x", "keep": "k"}
    assert state.stats == {"total_questions": 7}
    assert (result.session_values, result.stats_values) == ({"question_count": 5, "fresh": 2}, {"total_questions": 7})
    assert result.version == state.version == 2


async def test_patch_incrementing_a_non_integer_writes_nothing(store: HotStore) -> None:
    bot = store.bot("spin")
    await bot.save_session(TG, {"chat_state": "new", "n": 1})
    with pytest.raises(InvalidInput, match="not_integer"):
        await bot.patch_session(TG, session={"n": 100}, incr_session={"chat_state": 1})
    state = await bot.get_session(TG)
    assert (state.session, state.version) == ({"chat_state": "new", "n": 1}, 1)


async def test_patch_refuses_a_key_in_two_operations(store: HotStore) -> None:
    with pytest.raises(InvalidInput, match="not two at once"):
        await store.bot("spin").patch_session(TG, session={"a": 1}, unset_session=["a"])


async def test_patch_refuses_a_result_over_the_size_limit(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, namespace: str
) -> None:
    async with await HotStore.open(Settings(namespace=namespace, max_document_bytes=400),
                                   redis=redis_client, engine=sql_engine) as hot:
        bot = hot.bot("spin")
        await bot.save_session(TG, {"a": "x" * 200})
        with pytest.raises(InvalidInput, match="too_large"):
            await bot.patch_session(TG, session={"b": "y" * 200})
        assert (await bot.get_session(TG)).session == {"a": "x" * 200}


async def test_patch_refuses_an_increment_beyond_exact_integers(store: HotStore) -> None:
    bot = store.bot("spin")
    await bot.patch_session(TG, incr_session={"n": 2**53 - 1})
    with pytest.raises(InvalidInput, match="out_of_range"):
        await bot.patch_session(TG, incr_session={"n": 1})


# ---------------------------------------------------------------- reset_session


async def test_reset_restores_the_default_session_and_keeps_stats(store: HotStore) -> None:
    bot = store.bot("spin")
    await bot.save_session(TG, {"chat_state": "training_active"}, {"best": 9})
    assert await bot.reset_session(TG) is True
    state = await bot.get_session(TG)
    assert (state.session, state.stats) == (dict(DEFAULT_SESSION), {"best": 9})


async def test_reset_with_keep_stats_false_restores_default_stats(store: HotStore) -> None:
    bot = store.bot("spin")
    await bot.save_session(TG, {"a": 1}, {"best": 9})
    assert await bot.reset_session(TG, session_data={"chat_state": "waiting_start"}, keep_stats=False)
    state = await bot.get_session(TG)
    assert (state.session, state.stats) == ({"chat_state": "waiting_start"}, dict(DEFAULT_STATS))


async def test_reset_without_a_session_returns_false_and_creates_nothing(
    store: HotStore, redis_client: aioredis.Redis
) -> None:
    await store.ensure_user(TG)
    assert await store.bot("other").reset_session(TG) is False
    assert await store.bot("other").reset_session(TG + 1) is False
    assert await sql_count(store.engine, BotSession) == 0
    assert await redis_client.exists(store.keys.session("other", TG)) == 0


# ---------------------------------------------------------------- add_xp


async def test_add_xp_updates_totals_level_and_reports_the_crossing(store: HotStore) -> None:
    outcome = await store.bot("spin").add_xp(TG, 250)
    assert (outcome.leveled_up, outcome.old_level, outcome.new_level) == (True, 1, 3)
    assert (outcome.total_xp, outcome.bot_xp) == (250, 250)
    assert outcome.to_dict() == {"leveled_up": True, "old_level": 1, "new_level": 3, "total_xp": 250}


async def test_add_xp_counts_total_across_bots_and_bot_xp_per_bot(store: HotStore) -> None:
    await store.bot("a").add_xp(TG, 30)
    outcome = await store.bot("b").add_xp(TG, 12)
    assert (outcome.total_xp, outcome.bot_xp) == (42, 12)
    assert (await store.bot("a").get_session(TG)).xp == 30


async def test_add_xp_uses_a_v4_levels_config(store: HotStore) -> None:
    config = [{"level": 1, "min_xp": 0}, {"level": 2, "min_xp": 501}, {"level": 3, "min_xp": 1501}]
    outcome = await store.bot("spin").add_xp(TG, 600, levels=config)
    assert (outcome.old_level, outcome.new_level) == (1, 2)
    again = await store.bot("spin").add_xp(TG, 1000, levels=LevelTable.from_config(config))
    assert (again.old_level, again.new_level, again.leveled_up) == (2, 3, True)


async def test_negative_xp_is_taken_back_but_the_level_stays(store: HotStore) -> None:
    bot = store.bot("spin")
    await bot.add_xp(TG, 250)
    outcome = await bot.add_xp(TG, -200)
    assert (outcome.total_xp, outcome.new_level, outcome.leveled_up) == (50, 3, False)


async def test_xp_below_zero_is_refused_and_nothing_written(store: HotStore) -> None:
    bot = store.bot("spin")
    await bot.add_xp(TG, 10)
    with pytest.raises(InvalidInput, match="negative"):
        await bot.add_xp(TG, -11)
    assert (await store.get_user(TG)).total_xp == 10  # type: ignore[union-attr]
    assert await store.leaderboards.score(TG) == 10


async def test_add_xp_without_create_refuses_an_unknown_user_and_writes_nothing(store: HotStore) -> None:
    with pytest.raises(NotFound):
        await store.bot("spin").add_xp(TG, 10, create=False)
    assert await store.get_user(TG) is None
    assert await store.leaderboards.score(TG) is None


async def test_add_xp_without_create_serves_a_known_user_and_creates_the_bot_session(store: HotStore) -> None:
    await store.ensure_user(TG)
    outcome = await store.bot("spin").add_xp(TG, 10, create=False)
    assert (outcome.total_xp, outcome.bot_xp) == (10, 10)
    await store.bot("spin").add_xp(TG, 5, create=False)
    assert (await store.get_user(TG)).total_xp == 15  # type: ignore[union-attr]


async def test_taking_xp_from_an_unknown_user_or_session_is_refused_and_creates_nothing(store: HotStore) -> None:
    with pytest.raises(InvalidInput, match="negative"):
        await store.bot("spin").add_xp(TG, -5)
    with pytest.raises(NotFound):
        await store.bot("spin").add_xp(TG, -5, create=False)
    assert await store.get_user(TG) is None
    await store.bot("spin").add_xp(TG, 5)
    for create in (True, False):
        with pytest.raises(InvalidInput, match="negative"):
            await store.bot("other").add_xp(TG, -1, create=create)
    async with store.engine.connect() as conn:
        sessions = (await conn.execute(select(func.count()).select_from(BotSession))).scalar_one()
    assert sessions == 1


@pytest.mark.parametrize("create", [None, 1, "no"])
async def test_add_xp_refuses_a_non_bool_create(store: HotStore, create: object) -> None:
    with pytest.raises(InvalidInput):
        await store.bot("spin").add_xp(TG, 1, create=create)  # type: ignore[arg-type]
    assert await store.get_user(TG) is None


@pytest.mark.parametrize("amount", [True, 1.5, "3", 10**12 + 1, -(10**12) - 1])
async def test_add_xp_refuses_a_bad_amount(store: HotStore, amount: object) -> None:
    with pytest.raises(InvalidInput):
        await store.bot("spin").add_xp(TG, amount)  # type: ignore[arg-type]


async def test_add_xp_updates_all_three_boards(store: HotStore, redis_client: aioredis.Redis) -> None:
    await store.bot("a").add_xp(TG, 5)
    await store.bot("b").add_xp(TG, 7)
    week = store.keys.weekly_board(iso_week(datetime.now(UTC)))
    member = board_member(TG)
    assert await redis_client.zscore(store.keys.global_board, member) == 12
    assert await redis_client.zscore(store.keys.bot_board("a"), member) == 5
    assert await redis_client.zscore(week, member) == 12


async def test_the_weekly_board_has_no_ttl_that_a_volatile_policy_could_evict(
    store: HotStore, redis_client: aioredis.Redis
) -> None:
    await store.bot("a").add_xp(TG, 5)
    week = store.keys.weekly_board(iso_week(datetime.now(UTC)))
    assert await redis_client.pttl(week) == -1  # the sweep deletes old weeks (hotstore.writebehind.weekly_boards)


async def test_add_xp_marks_user_and_session_dirty(store: HotStore, redis_client: aioredis.Redis) -> None:
    await store.bot("spin").add_xp(TG, 5)
    assert await dirty_score(redis_client, store.keys, "users", str(TG)) is not None
    assert await dirty_score(redis_client, store.keys, "sessions", session_member("spin", TG)) is not None


# ---------------------------------------------------------------- users


async def test_get_user_of_an_unknown_user_is_none_and_creates_nothing(
    store: HotStore, redis_client: aioredis.Redis
) -> None:
    assert await store.get_user(TG) is None
    assert await sql_count(store.engine, User) == 0
    assert await redis_client.exists(store.keys.user(TG)) == 0


async def test_ensure_user_creates_once_and_user_id_is_stable(store: HotStore) -> None:
    created = await store.ensure_user(TG, username="ann")
    assert await store.user_id(TG) == created.id
    assert await store.user_id(TG + 1) != created.id
    assert await sql_count(store.engine, User) == 2


async def test_user_to_dict_has_exactly_v4_keys(store: HotStore) -> None:
    user = await store.ensure_user(TG, username="ann")
    as_dict = user.to_dict()
    assert list(as_dict) == ["id", "telegram_id", "username", "first_name", "last_name", "total_xp", "level",
                             "total_trainings", "registration_date", "last_activity"]
    assert datetime.fromisoformat(as_dict["registration_date"]).tzinfo is not None


@pytest.mark.parametrize("telegram_id", [2**63, -(2**63) - 1, "42", 4.2, True, None])
async def test_bad_telegram_ids_are_refused(store: HotStore, telegram_id: object) -> None:
    with pytest.raises(InvalidInput):
        await store.bot("spin").get_session(telegram_id)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", "a:b", "a b", "{x}", "x" * 51, 5])
def test_bad_bot_names_are_refused(store: HotStore, name: object) -> None:
    with pytest.raises(InvalidInput):
        store.bot(name)  # type: ignore[arg-type]


def test_bot_without_a_name_uses_the_settings_bot_name(store: HotStore) -> None:
    assert store.bot().name == store.settings.bot_name


# ---------------------------------------------------------------- client and lifecycle


def test_embedded_stores_share_one_server() -> None:
    first, second = connect(Settings()), connect(Settings())
    assert first.connection_pool.connection_kwargs["server"] is embedded_server()
    assert second.connection_pool.connection_kwargs["server"] is embedded_server()


async def test_redis_down_raises_store_unavailable(sql_engine: AsyncEngine, namespace: str) -> None:
    dead = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    async with await HotStore.open(Settings(namespace=namespace), redis=dead, engine=sql_engine) as hot:
        with pytest.raises(StoreUnavailable):
            await hot.bot("spin").get_session(TG)
        with pytest.raises(StoreUnavailable):
            await hot.leaderboards.page()
    await dead.aclose()


async def test_close_leaves_a_passed_client_and_engine_open(
    redis_client: aioredis.Redis, sql_engine: AsyncEngine, namespace: str
) -> None:
    hot = await HotStore.open(Settings(namespace=namespace), redis=redis_client, engine=sql_engine)
    await hot.close()
    assert await redis_client.ping()
    assert await sql_count(sql_engine, User) == 0


async def test_open_creates_the_tables_of_an_engine_it_makes(tmp_path: Path, namespace: str) -> None:
    settings = Settings(namespace=namespace, database_url=f"sqlite+aiosqlite:///{tmp_path / 'own.db'}")
    async with await HotStore.open(settings) as hot:
        await hot.bot("spin").get_session(TG)
        assert await sql_count(hot.engine, User) == 1
        await hot.redis.delete(hot.keys.user(TG), hot.keys.session("spin", TG))
