"""Invariants that had no test of their own and are kept by the write-behind: every key carries the namespace's
hash tag (invariant 8), and a dirty entity never gets a TTL (invariant 4). docs/invariants.md maps all nine."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis.asyncio as aioredis

from hotstore import HotStore
from hotstore.durable import Access, Badges, Payments, Promocodes, TrainingHistory, delete_user
from hotstore.writebehind.flush import drain
from hotstore.writebehind.rebuild import rebuild_boards_if_lost
from hotstore.writebehind.sweep import sweep_idle
from persistence.engine import create_engine
from tests.support.dirty import dirty_score
from tests.support.stores import StoreFactory

BOT = "spin_bot"


@pytest.fixture
async def hot(make_store: StoreFactory) -> HotStore:
    """A store on both axes with a short idle TTL (600 s), so clean entities visibly carry one."""
    return await make_store(bot_name=BOT, idle_ttl=600)


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
    tags = (("{" + namespace + "}:").encode(), ("{" + namespace + ":").encode())
    assert new, "the scenario wrote no key"
    assert [key for key in new if namespace.encode() in key and not key.startswith(tags)] == []
    if redis_url is None:  # a private fakeredis: every new key is ours
        assert [key for key in new if not key.startswith(tags)] == []


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
    assert await dirty_score(redis_client, hot.keys, "users", "7") is not None

    await drain(redis_client, hot.engine, hot.settings)  # SQL back: flushed, clean, the TTL returns
    assert await redis_client.pttl(user) > 0 and await redis_client.pttl(session) > 0
