"""Invariants that had no test of their own and are kept by the durable services: TrainingHistory.apply's
read-through never overwrites newer Redis data (invariant 6), and a durable refusal is a typed hotstore error
(invariant 7). docs/invariants.md maps all nine."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from hotstore import HotStore
from hotstore.core.errors import HotstoreError
from hotstore.durable import Promocodes, TrainingHistory
from hotstore.writebehind.flush import drain

BOT = "spin_bot"


async def test_training_history_apply_after_eviction_never_overwrites_newer_redis_data(
    store: HotStore, redis_client: aioredis.Redis
) -> None:
    """Invariant 6 on TrainingHistory.apply's read-through: a user hash written after the SQL load keeps its XP,
    and re-applying the same history id counts it once."""
    history = TrainingHistory(store)
    recorded = await history.save(8, total_score=30)
    await drain(redis_client, store.engine, store.settings)
    await redis_client.delete(store.keys.user(8))  # evicted; SQL has total_trainings=1, total_score=30
    await store.bot(BOT).add_xp(8, 40)  # loads from SQL, then writes newer data in Redis (not yet flushed)

    again = await history.apply(8, recorded.history_id, 30)

    user = await store.get_user(8)
    assert user is not None and user.total_xp == 40
    assert (again.applied, user.total_trainings, user.total_score) == (False, 1, 30)


async def test_a_durable_refusal_is_a_hotstore_error(store: HotStore) -> None:
    """Invariant 7's refusals are typed: a second redemption by the same user is PromocodeRejected, changing
    nothing (the use count stays at one)."""
    promos = Promocodes(store)
    await promos.create("once", "trainings", 1, max_uses=5)
    await promos.redeem("once", 9)
    with pytest.raises(HotstoreError):
        await promos.redeem("ONCE", 9)
    promo = await promos.get("once")
    assert promo is not None and promo.current_uses == 1
