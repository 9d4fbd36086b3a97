"""Helpers of the board repair tests: users and planted board errors, and reading a user's three board scores."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core.keys import board_member, iso_week
from hotstore.core.store import HotStore
from persistence.models import BotSession, User
from tests.support.hot_entities import sql_user

TG, OTHER, NOBODY = 7_000_001, 7_000_002, 7_000_999
BOT = "spin"


def this_week() -> str:
    return iso_week(datetime.now(UTC))


async def board_scores(store: HotStore, telegram_id: int, bot: str = BOT) -> tuple[Any, Any, Any]:
    keys, member = store.keys, board_member(telegram_id)
    return (await store.redis.zscore(keys.global_board, member), await store.redis.zscore(keys.bot_board(bot), member),
            await store.redis.zscore(keys.weekly_board(this_week()), member))


async def set_on_boards(store: HotStore, telegram_id: int, score: int | None, bot: str = BOT) -> None:
    """Write ``score`` (None: remove the member) on the user's three boards by hand."""
    keys, member = store.keys, board_member(telegram_id)
    for board in (keys.global_board, keys.bot_board(bot), keys.weekly_board(this_week())):
        if score is None:
            await store.redis.zrem(board, member)
        else:
            await store.redis.zadd(board, {member: score})


async def cold_user(engine: AsyncEngine, telegram_id: int, *, total: int, bots: dict[str, int], week: str | None,
                     week_xp: int) -> None:
    """A user who is in SQL only (not hot)."""
    uid = await sql_user(engine, telegram_id)
    async with engine.begin() as conn:
        await conn.execute(update(User).where(User.id == uid).values(total_xp=total, week=week, week_xp=week_xp))
        for bot, xp in bots.items():
            await conn.execute(BotSession.__table__.insert().values(user_id=uid, bot_name=bot, xp=xp))


async def plant_board_errors(store: HotStore) -> None:
    """A hot user with a wrong global score, a cold user missing from the bot and weekly boards, and a member who
    exists nowhere on the global and weekly boards."""
    keys = store.keys
    await store.bot(BOT).add_xp(TG, 40)
    await store.redis.zadd(keys.global_board, {board_member(TG): 400})
    await cold_user(store.engine, OTHER, total=60, bots={BOT: 60}, week=this_week(), week_xp=60)
    await store.redis.zadd(keys.global_board, {board_member(OTHER): 60})
    for board in (keys.global_board, keys.weekly_board(this_week())):
        await store.redis.zadd(board, {board_member(NOBODY): 5})
