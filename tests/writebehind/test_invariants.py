"""Invariants of /work/shared/DESIGN.md that had no test of their own (docs/invariants.md maps all nine)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore import HotStore, Settings
from hotstore.core.errors import HotstoreError
from hotstore.durable import Access, Badges, Payments, Promocodes, TrainingHistory, delete_user
from hotstore.writebehind.flush import drain
from hotstore.writebehind.rebuild import rebuild_boards_if_lost
from hotstore.writebehind.sweep import sweep_idle
from persistence.engine import create_engine

BOT = "spin_bot"


@pytest.fixture
async def hot(sql_engine: AsyncEngine, redis_client: aioredis.Redis, namespace: str) -> AsyncIterator[HotStore]:
    store = await HotStore.open(Settings(namespace=namespace, bot_name=BOT, idle_ttl=600), redis=redis_client,
                                engine=sql_engine)
    yield store
    await store.close()


async def test_every_key_the_store_scripts_and_workers_touch_carries_the_namespace_hash_tag(
    hot: HotStore, redis_client: aioredis.Redis, namespace: str, redis_url: str | None
) -> None:
    """Invariant 8: a scenario over every writer (hot path, durable services, flush, board rebuild, sweep,
    deletion) leaves only keys starting with ``{<namespace>}:``; no key names the namespace without its tag."""
    async def keys_now() -> set[bytes]:
        return {key async for key in redis_client.scan_iter(match="*", count=1000)}

    before = await keys_now()
    bot, other = hot.bot(BOT), hot.bot("quiz_bot")
    for tg in (1, 2, 3):
        await bot.get_session(tg, username=f"u{tg}")
        await bot.patch_session(tg, session={"chat_state": "x"}, incr_stats={"n": 1})
        await bot.add_xp(tg, 120 * tg)
        await other.save_session(tg, {"a": 1})
    await bot.reset_session(1)
    await Badges(hot).award(1, "b")
    await Payments(hot).record(1, provider="p", payment_id="1", amount="1.00", tariff="credits_1")
    await Payments(hot).complete("p", "1")
    await Access(hot).consume(1)
    await Promocodes(hot).create("c", "credits", 1)
    await Promocodes(hot).redeem("c", 2)
    await TrainingHistory(hot).save(2, total_score=5)
    await hot.leaderboards.around(2, None, radius=2)
    await drain(redis_client, hot.engine, hot.settings)
    await redis_client.delete(hot.keys.global_board, hot.keys.boards_built)
    await rebuild_boards_if_lost(redis_client, hot.engine, hot.settings)
    await sweep_idle(redis_client, hot.settings)
    await delete_user(hot, 3)

    new = await keys_now() - before
    tag = ("{" + namespace + "}:").encode()
    assert new, "the scenario wrote no key"
    assert [key for key in new if namespace.encode() in key and not key.startswith(tag)] == []
    if redis_url is None:  # a private fakeredis: every new key is ours
        assert [key for key in new if not key.startswith(tag)] == []


async def test_a_dirty_entity_never_gets_a_ttl_through_reads_sweeps_and_a_failed_flush(
    hot: HotStore, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    """Invariant 4: writes PERSIST, and nothing that runs while the entity is dirty gives it a TTL back."""
    bot = hot.bot(BOT)
    await bot.add_xp(7, 10)
    await drain(redis_client, hot.engine, hot.settings)  # clean: the idle TTL is set
    user, session = hot.keys.user(7), hot.keys.session(BOT, 7)
    assert await redis_client.pttl(user) > 0 and await redis_client.pttl(session) > 0

    await bot.patch_session(7, incr_session={"q": 1})  # dirty again, both user (activity) and session
    await bot.add_xp(7, 1)
    assert await redis_client.pttl(user) == -1 and await redis_client.pttl(session) == -1

    await bot.get_session(7)
    await hot.get_user(7)
    await hot.leaderboards.rank(7, None)
    await sweep_idle(redis_client, hot.settings)
    unreachable = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}")
    with pytest.raises(Exception):  # noqa: B017 (the driver's error: SQL is down)
        await drain(redis_client, unreachable, hot.settings)
    await unreachable.dispose()
    await sweep_idle(redis_client, hot.settings)

    assert await redis_client.pttl(user) == -1 and await redis_client.pttl(session) == -1
    assert await redis_client.zscore(hot.keys.dirty_users, "7") is not None

    await drain(redis_client, hot.engine, hot.settings)  # SQL back: flushed, clean, the TTL returns
    assert await redis_client.pttl(user) > 0 and await redis_client.pttl(session) > 0


async def test_training_history_apply_after_eviction_never_overwrites_newer_redis_data(
    hot: HotStore, redis_client: aioredis.Redis
) -> None:
    """Invariant 6 on TrainingHistory.apply's read-through: a user hash written after the SQL load keeps its XP,
    and re-applying the same history id counts it once."""
    history = TrainingHistory(hot)
    recorded = await history.save(8, total_score=30)
    await drain(redis_client, hot.engine, hot.settings)
    await redis_client.delete(hot.keys.user(8))  # evicted; SQL has total_trainings=1, total_score=30
    await hot.bot(BOT).add_xp(8, 40)  # loads from SQL, then writes newer data in Redis (not yet flushed)

    again = await history.apply(8, recorded.history_id, 30)

    user = await hot.get_user(8)
    assert user is not None and user.total_xp == 40
    assert (again.applied, user.total_trainings, user.total_score) == (False, 1, 30)


async def test_a_durable_refusal_is_a_hotstore_error(hot: HotStore) -> None:
    """Invariant 7's refusals are typed: a second redemption by the same user is PromocodeRejected, changing
    nothing (the use count stays at one)."""
    promos = Promocodes(hot)
    await promos.create("once", "trainings", 1, max_uses=5)
    await promos.redeem("once", 9)
    with pytest.raises(HotstoreError):
        await promos.redeem("ONCE", 9)
    promo = await promos.get("once")
    assert promo is not None and promo.current_uses == 1
