"""Deleting a user removes every SQL row of theirs and every Redis key and board entry, and nobody else's."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core.keys import board_member, iso_week
from hotstore.core.store import HotStore
from hotstore.durable import Access, Badges, Payments, Promocodes, TrainingHistory, delete_user
from persistence.engine import sessionmaker_for
from persistence.models import (
    BotSession,
    FreeTraining,
    Payment,
    PromocodeUsage,
    Subscription,
    User,
    UserBadge,
)
from persistence.models import (
    TrainingHistory as HistoryRow,
)
from tests.support.dirty import dirty_members, dirty_score

VICTIM, BYSTANDER = 1, 2
MODELS = (User, UserBadge, BotSession, Subscription, Payment, PromocodeUsage, FreeTraining, HistoryRow)


async def populate(store: HotStore, tg: int) -> None:
    """Give the user a row in every table and a presence in every Redis structure."""
    await store.bot("spin_bot").add_xp(tg, 30)
    await store.bot("quiz_bot").add_xp(tg, 10)
    await Badges(store).award(tg, "b", bot_name="quiz_bot")
    payments = Payments(store)
    await payments.record(tg, provider="yk", payment_id=f"p{tg}", amount="990", tariff="month")
    await payments.complete("yk", f"p{tg}")
    await Access(store).add_free_trainings(tg, {"channel": 1})
    await Promocodes(store).redeem("GIFT", tg)
    await TrainingHistory(store).save(tg, total_score=10)


async def rows_of(engine: AsyncEngine, user_id: int) -> dict[str, int]:
    counts = {}
    async with sessionmaker_for(engine)() as session:
        for model in MODELS:
            column = model.id if model is User else model.user_id  # type: ignore[attr-defined]
            stmt = select(func.count()).select_from(model).where(column == user_id)
            counts[model.__tablename__] = int((await session.execute(stmt)).scalar_one())
    return counts


async def redis_traces(store: HotStore, tg: int) -> list[str]:
    """Every key or member that still mentions the user."""
    keys = store.keys
    traces = [k.decode() for k in await store.redis.keys("{" + keys.namespace + f"*:{tg}")]
    member = board_member(tg)
    boards = [keys.global_board, keys.bot_board("spin_bot"), keys.bot_board("quiz_bot")]
    boards.append(keys.weekly_board(iso_week(datetime.now(UTC))))
    traces += [board for board in boards if await store.redis.zscore(board, member) is not None]
    if await dirty_score(store.redis, keys, "users", str(tg)) is not None:
        traces.append("dirty user")
    traces += [m for m in await dirty_members(store.redis, keys, "sessions") if m.endswith(f":{tg}")]
    return traces


async def test_delete_removes_every_row_and_key_of_the_user_only(store: HotStore, sql_engine: AsyncEngine) -> None:
    await Promocodes(store).create("gift", "trainings", 1)
    await populate(store, VICTIM)
    await populate(store, BYSTANDER)
    victim_id, bystander_id = await store.user_id(VICTIM), await store.user_id(BYSTANDER)
    before = await rows_of(sql_engine, bystander_id)
    assert all(before.values()) and await redis_traces(store, VICTIM)

    assert await delete_user(store, VICTIM) is True

    assert set((await rows_of(sql_engine, victim_id)).values()) == {0}
    assert await redis_traces(store, VICTIM) == []
    assert await rows_of(sql_engine, bystander_id) == before
    assert len(await redis_traces(store, BYSTANDER)) >= 6


async def test_delete_removes_sessions_known_only_from_the_dirty_set(store: HotStore) -> None:
    await store.bot("fresh_bot").add_xp(VICTIM, 5)  # never flushed: no bot_sessions row in SQL
    await delete_user(store, VICTIM)
    assert not await store.redis.exists(store.keys.session("fresh_bot", VICTIM))
    assert await store.redis.zscore(store.keys.bot_board("fresh_bot"), board_member(VICTIM)) is None


async def test_deleting_an_unknown_user_returns_false(store: HotStore) -> None:
    assert await delete_user(store, 404) is False


async def test_deleted_user_reads_as_unknown(store: HotStore) -> None:
    await store.ensure_user(VICTIM)
    await delete_user(store, VICTIM)
    assert await store.get_user(VICTIM) is None
