"""Upgrading a running single-tag namespace (hotstore 0.4) to the sharded layout loses nothing (issue #14).

The namespace is written by hand in the single-tag layout (tests/support/single_tag.py), with SQL holding older
versions of the dirty entities; bots on the new store and ``migrate-layout`` then run at the same time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore import HotStore
from hotstore.core import constants as c
from hotstore.core.cluster import RedisClient
from hotstore.core.keys import SingleTagKeys, board_member, iso_week
from hotstore.core.legacy_layout import USER, Entity, LegacyLayout, legacy_key, sharded_keys
from hotstore.core.scripts import LEGACY_ADOPT, Scripts
from hotstore.durable.deletion import delete_user
from hotstore.writebehind.runner import WriteBehind
from hotstore.writebehind.upgrade import LayoutUpgrade, migrate_layout
from persistence.clock import utc_now
from persistence.models import BotDocument, BotSession, User
from persistence.upsert import ensure_user_id
from tests.support.hot_entities import T0_MS
from tests.support.single_tag import (
    legacy_boards,
    legacy_document,
    legacy_keys_left,
    legacy_session,
    legacy_user,
)

pytestmark = pytest.mark.on_cluster  # the redis_url tests run on the local Redis Cluster too

StoreFactory = Callable[..., Awaitable[HotStore]]

BOT = "quiz"
USERS = list(range(101, 113))  # 12 users: the even ones dirty in Redis (SQL older), the odd ones clean
TASKS_PER_USER = 3
ROUNDS = 4
AWARD = 5


def _dirty(telegram_id: int) -> bool:
    return telegram_id % 2 == 0


def _legacy_xp(telegram_id: int) -> int:
    return 1000 + telegram_id  # in Redis (the truth); SQL has 100 less for a dirty user


def _legacy_count(telegram_id: int) -> int:
    return telegram_id * 10


def _legacy_week_xp(telegram_id: int) -> int:
    return telegram_id % 7 * 10  # 0 for some: not on this week's board


async def _sql_rows(engine: AsyncEngine, telegram_id: int) -> int:
    """SQL as 0.4's flush left it: the dirty users' rows are one flush behind (older version, less XP)."""
    behind = 100 if _dirty(telegram_id) else 0
    async with engine.begin() as conn:
        user_id = await ensure_user_id(conn, telegram_id)
        await conn.execute(update(User).where(User.id == user_id).values(
            total_xp=_legacy_xp(telegram_id) - behind, level=1, version=1 if _dirty(telegram_id) else 3))
        await conn.execute(insert(BotSession).values(
            user_id=user_id, bot_name=BOT, session_data={"count": _legacy_count(telegram_id) - behind},
            stats_data={}, xp=_legacy_xp(telegram_id) - behind, version=1 if _dirty(telegram_id) else 3))
    return user_id


async def _single_tag_namespace(redis: RedisClient, engine: AsyncEngine, namespace: str) -> SingleTagKeys:
    legacy = SingleTagKeys(namespace)
    week = iso_week(utc_now())
    for telegram_id in USERS:
        user_id = await _sql_rows(engine, telegram_id)
        await legacy_user(redis, legacy, telegram_id, user_id, xp=_legacy_xp(telegram_id), version=3,
                          dirty=_dirty(telegram_id))
        await legacy_session(redis, legacy, BOT, telegram_id, user_id, session={"count": _legacy_count(telegram_id)},
                             xp=_legacy_xp(telegram_id), version=3, dirty=_dirty(telegram_id))
    await legacy_document(redis, legacy, BOT, "chat:1", data={"seed": 1}, version=2, dirty=True, state="menu")
    await legacy_boards(redis, legacy, BOT, week, {
        tg: (_legacy_xp(tg), _legacy_xp(tg), _legacy_week_xp(tg)) for tg in USERS})
    return legacy


async def _drain(store: HotStore) -> None:
    cycle = WriteBehind.open(store.settings, redis=store.redis, engine=store.engine)
    totals = await cycle.flush_everything()
    assert totals.remaining == 0


async def test_bots_and_the_upgrade_at_once_lose_and_double_nothing(
    redis_client: RedisClient, sql_engine: AsyncEngine, namespace: str, make_store: StoreFactory
) -> None:
    legacy = await _single_tag_namespace(redis_client, sql_engine, namespace)
    store = await make_store()
    assert not store.legacy.done  # the open probe found the single-tag keys
    bot = store.bot(BOT)
    document = bot.documents.document("chat:1")

    async def bot_task(telegram_id: int, task: int) -> None:
        for round_ in range(ROUNDS):
            await bot.add_xp(telegram_id, AWARD)
            await bot.patch_session(telegram_id, incr_session={"count": 1})
            await document.patch({f"k{telegram_id}_{task}_{round_}": round_})

    upgrade = LayoutUpgrade(redis_client, sql_engine, store.settings)

    async def upgrader() -> None:
        await asyncio.sleep(0)
        await upgrade.run()

    await asyncio.gather(*(bot_task(tg, task) for tg in USERS for task in range(TASKS_PER_USER)), upgrader())
    report = await upgrade.run()  # what the concurrent run could not finish (it may have finished already)
    assert report.done, report.summary()
    # each single-tag entity was copied exactly once, by a bot's miss or by the upgrade (2 per user, 1 document)
    assert store.legacy.adoptions + upgrade.layout.adoptions == 2 * len(USERS) + 1
    await bot.get_session(999)  # a cold call reads the marker with its adoption attempt ...
    assert store.legacy.done  # ... and the store never looks at the single-tag layout again
    await _drain(store)

    keys = store.keys
    increments = TASKS_PER_USER * ROUNDS
    week = iso_week(utc_now())
    for telegram_id in USERS:  # the user 999 created above is not part of the single-tag namespace
        expected_xp = _legacy_xp(telegram_id) + AWARD * increments
        expected_week = _legacy_week_xp(telegram_id) + AWARD * increments
        user = await redis_client.hgetall(keys.user(telegram_id))
        session = await bot.get_session(telegram_id)
        assert int(user[c.USER_XP.encode()]) == expected_xp, telegram_id
        assert user[c.USER_WEEK.encode()].decode() == week
        assert int(user[c.USER_WEEK_XP.encode()]) == expected_week, telegram_id
        assert session.session["count"] == _legacy_count(telegram_id) + increments
        assert session.xp == expected_xp
        async with sql_engine.connect() as conn:
            row = (await conn.execute(select(User).where(User.telegram_id == telegram_id))).one()
            sql_session = (await conn.execute(select(BotSession).where(
                BotSession.user_id == row.id, BotSession.bot_name == BOT))).one()
        assert (row.total_xp, row.week, row.week_xp) == (expected_xp, week, expected_week), telegram_id
        assert (sql_session.xp, sql_session.session_data["count"]) == (expected_xp, _legacy_count(telegram_id)
                                                                       + increments)
        member = board_member(telegram_id)
        assert await redis_client.zscore(keys.global_board, member) == expected_xp
        assert await redis_client.zscore(keys.bot_board(BOT), member) == expected_xp
        assert await redis_client.zscore(keys.weekly_board(week), member) == expected_week
    data = (await document.get()).data
    assert data["seed"] == 1 and len(data) == 1 + len(USERS) * increments
    async with sql_engine.connect() as conn:
        doc_row = (await conn.execute(select(BotDocument).where(BotDocument.doc_key == "chat:1"))).one()
    assert doc_row.state == "menu" and doc_row.data == data
    assert await legacy_keys_left(redis_client, legacy) == []
    assert await redis_client.get(keys.layout) == keys.layout_label.encode()
    assert (await migrate_layout(redis_client, sql_engine, store.settings, check=True)).done


async def test_two_adopters_of_one_entity_copy_it_once(
    redis_client: RedisClient, namespace: str, make_hot_store: StoreFactory
) -> None:
    legacy = SingleTagKeys(namespace)
    await legacy_user(redis_client, legacy, 7, 1, xp=420, version=9, dirty=True)
    store = await make_hot_store()
    first, second = (LegacyLayout(redis_client, Scripts(redis_client), store.keys, 3600) for _ in range(2))
    user = Entity(USER, "7")

    results = await asyncio.gather(first.adopt([user]), second.adopt([user]))

    assert sum(result.adopted for result in results if result is not None) == 1
    hash_key, dirty_set = sharded_keys(store.keys, user)
    fields = await redis_client.hgetall(hash_key)
    assert (fields[c.USER_XP.encode()], fields[c.VERSION.encode()]) == (b"420", b"9")
    assert await redis_client.zscore(dirty_set, "7") == T0_MS  # the single-tag first-dirty time, kept
    assert await redis_client.pttl(hash_key) == -1  # dirty: no TTL
    assert await legacy_keys_left(redis_client, legacy) == []


async def test_a_crash_between_copy_and_delete_is_safe_to_resume(
    redis_client: RedisClient, namespace: str, make_hot_store: StoreFactory
) -> None:
    legacy = SingleTagKeys(namespace)
    await legacy_user(redis_client, legacy, 8, 1, xp=300, version=4, dirty=True)
    store = await make_hot_store()
    user = Entity(USER, "8")
    hash_key, dirty_set = sharded_keys(store.keys, user)
    flat = await redis_client.hgetall(legacy_key(legacy, user))
    pairs = [part for name, value in flat.items() for part in (name, value)]
    # the copy of an adopter that then crashed: the single-tag hash and its dirty mark are still there
    assert await Scripts(redis_client).call(LEGACY_ADOPT, [hash_key, dirty_set],
                                             ["8", T0_MS, 3_600_000, "", 0, *pairs]) == 1
    await store.ensure_user(8, username="ann")  # a bot writes the sharded copy meanwhile (no miss: it is there)

    adoption = await store.legacy.adopt([user])  # a re-run (the upgrade, or another miss)

    assert adoption is not None and (adoption.found, adoption.adopted) == (1, 0)
    after = await store.get_user(8)
    assert after is not None and (after.username, after.total_xp, after.version) == ("ann", 300, 5)
    assert await redis_client.zscore(dirty_set, "8") == T0_MS
    assert await legacy_keys_left(redis_client, legacy) == []


async def test_a_fresh_namespace_gets_the_marker_and_skips_the_check(
    redis_client: RedisClient, make_hot_store: StoreFactory, monkeypatch: Any
) -> None:
    store = await make_hot_store()
    assert store.legacy.done
    assert await redis_client.get(store.keys.layout) == store.keys.layout_label.encode()

    async def never(*_: object) -> None:
        raise AssertionError("a cold call in a sharded namespace looked at the single-tag layout")

    monkeypatch.setattr(store.legacy, "adopt", never)
    monkeypatch.setattr(store.legacy, "probe", never)
    await store.bot(BOT).add_xp(5, 1)  # cold: a MISS, then SQL
    assert (await store.get_user(5)).total_xp == 1  # type: ignore[union-attr]
    second = await make_hot_store()
    assert second.legacy.done  # the marker is read, nothing scanned


async def test_a_miss_adopts_the_unflushed_single_tag_state_instead_of_the_older_sql_row(
    redis_client: RedisClient, sql_engine: AsyncEngine, namespace: str, make_store: StoreFactory
) -> None:
    await _single_tag_namespace(redis_client, sql_engine, namespace)
    store = await make_store()

    state = await store.bot(BOT).get_session(102)  # dirty in the single-tag layout, SQL 100 behind

    assert (state.user.total_xp, state.session["count"], state.version) == (1102, 1020, 3)
    assert await redis_client.zscore(store.keys.session_dirty_set(102), f"{BOT}:102") == T0_MS
    user = await redis_client.hgetall(store.keys.user(102))
    assert int(user[c.USER_WEEK_XP.encode()]) == _legacy_week_xp(102)  # the week continues


async def test_a_deleted_user_is_not_adopted_back(
    redis_client: RedisClient, sql_engine: AsyncEngine, namespace: str, make_store: StoreFactory
) -> None:
    legacy = await _single_tag_namespace(redis_client, sql_engine, namespace)
    store = await make_store()

    await delete_user(store, 104)

    assert await store.get_user(104) is None
    assert not any(key.endswith(":104") for key in await legacy_keys_left(redis_client, legacy))


async def test_check_reports_what_is_left_and_writes_nothing(
    redis_client: RedisClient, sql_engine: AsyncEngine, namespace: str, make_store: StoreFactory
) -> None:
    legacy = await _single_tag_namespace(redis_client, sql_engine, namespace)
    store = await make_store()
    before = await legacy_keys_left(redis_client, legacy)

    report = await migrate_layout(redis_client, sql_engine, store.settings, check=True)

    assert not report.done
    assert report.left["dirty users"] == len([tg for tg in USERS if _dirty(tg)])
    assert report.left["users"] == len(USERS) and report.left["documents"] == 1
    assert await legacy_keys_left(redis_client, legacy) == before
    assert await redis_client.get(store.keys.layout) is None


async def test_the_worker_tick_upgrades_a_single_tag_namespace(
    redis_client: RedisClient, sql_engine: AsyncEngine, namespace: str, make_store: StoreFactory
) -> None:
    legacy = await _single_tag_namespace(redis_client, sql_engine, namespace)
    store = await make_store()
    cycle = WriteBehind.open(store.settings, redis=redis_client, engine=sql_engine)

    assert await cycle.layout_tick()

    assert await legacy_keys_left(redis_client, legacy) == []
    await _drain(store)
    async with sql_engine.connect() as conn:
        row = (await conn.execute(select(User).where(User.telegram_id == 106))).one()
    assert (row.total_xp, row.week_xp) == (_legacy_xp(106), _legacy_week_xp(106))


async def test_document_states_include_dirty_single_tag_documents(
    redis_client: RedisClient, sql_engine: AsyncEngine, namespace: str, make_store: StoreFactory
) -> None:
    legacy = await _single_tag_namespace(redis_client, sql_engine, namespace)  # chat:1 in state "menu", dirty
    store = await make_store()

    states = await store.bot(BOT).documents.states("chat:")

    assert states == {"chat:1": "menu"}
    assert await redis_client.exists(legacy.document(BOT, "chat:1")) == 0  # adopted on the way


async def test_an_older_single_tag_weekly_board_alone_keeps_the_namespace_in_upgrade(
    redis_client: RedisClient, namespace: str, make_hot_store: StoreFactory
) -> None:
    legacy = SingleTagKeys(namespace)
    two_weeks_ago = iso_week(utc_now() - timedelta(weeks=2))
    await redis_client.zadd(legacy.weekly_board(two_weeks_ago), {board_member(1): 40})  # no TTL: never goes

    store = await make_hot_store()

    assert not store.legacy.done
    assert await redis_client.get(store.keys.layout) is None
    report = await LayoutUpgrade(redis_client, store.engine, store.settings).run()
    assert report.done
    assert await redis_client.zscore(store.keys.weekly_board(two_weeks_ago), board_member(1)) == 40
    assert await legacy_keys_left(redis_client, legacy) == []
