"""The figures of one fault-matrix row, and the one line it reports (no tests here).

``row=<name> acknowledged=N sql=<what SQL holds> redis=<what Redis holds> lost=<n> errors=<typed errors callers
saw>``: acknowledged is the XP callers were told was added, sql the XP SQL holds for those users after recovery,
redis what is still dirty there, lost the acknowledged XP SQL does not hold (per user: a call that raised may
still have been applied, so a user may hold more, never less), errors the error types callers saw, with counts.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core import errors as hotstore_errors
from hotstore.core.keys import KeyScheme
from hotstore.writebehind.flush import dirty_counts
from persistence.models import BotSession, User

TYPED_ERRORS = frozenset(
    name for name, value in vars(hotstore_errors).items()
    if isinstance(value, type) and issubclass(value, hotstore_errors.HotstoreError)
)
CLEAN_WAIT_S = 40.0  # how long the workers get to drain after recovery (a bound, not a timed assertion)


@dataclass
class RowFigures:
    """What one fault left behind."""

    name: str
    acknowledged: int
    sql: int
    redis: str
    lost: int
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def untyped_errors(self) -> list[str]:
        return sorted(name for name in self.errors if name not in TYPED_ERRORS)

    def line(self) -> str:
        errors = ",".join(f"{name}:{count}" for name, count in sorted(self.errors.items())) or "none"
        return (f"row={self.name} acknowledged={self.acknowledged} sql={self.sql} redis={self.redis} "
                f"lost={self.lost} errors={errors}")


def error_types(errors: list[str]) -> Counter[str]:
    """The load generator's error texts (``Type: message``) counted by type."""
    return Counter(text.split(":", 1)[0] for text in errors)


async def sql_xp(engine: AsyncEngine) -> dict[int, int]:
    """``users.total_xp`` by Telegram id."""
    async with engine.connect() as conn:
        return {int(tg): int(xp) for tg, xp in (await conn.execute(select(User.telegram_id, User.total_xp))).all()}


async def dirty_total(redis: aioredis.Redis, keys: KeyScheme) -> int:
    return sum((await dirty_counts(redis, keys)).values())


async def wait_until_clean(redis: aioredis.Redis, keys: KeyScheme, wait_s: float = CLEAN_WAIT_S) -> bool:
    """True once nothing is dirty (the workers drained by themselves); False if they did not within ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            if await dirty_total(redis, keys) == 0:
                return True
        except Exception:
            pass
        await asyncio.sleep(0.5)
    return False


async def row_figures(name: str, engine: AsyncEngine, redis: aioredis.Redis, keys: KeyScheme,
                      expected: dict[str, Any]) -> RowFigures:
    """The row's figures from what the load generator was told (``expected``) and what SQL and Redis hold."""
    held = await sql_xp(engine)
    acknowledged = {int(tg): int(xp) for tg, xp in expected["xp"].items()}
    lost = sum(max(0, xp - held.get(tg, 0)) for tg, xp in acknowledged.items())
    sql_total = sum(held.get(tg, 0) for tg in acknowledged)
    return RowFigures(name, sum(acknowledged.values()), sql_total, f"dirty:{await dirty_total(redis, keys)}", lost,
                      error_types(expected["errors"]))


async def sessions_behind(engine: AsyncEngine, expected: dict[str, Any]) -> int:
    """Sessions whose SQL row holds less XP or fewer patches than callers were told (a loss; more is a call that
    raised but was applied, which is not)."""
    async with engine.connect() as conn:
        rows = (await conn.execute(
            select(BotSession.bot_name, User.telegram_id, BotSession.xp, BotSession.stats_data)
            .join(User, User.id == BotSession.user_id))).all()
    held = {f"{bot}:{tg}": (int(xp), int((stats or {}).get("n", 0))) for bot, tg, xp, stats in rows}
    behind = 0
    for member, want in expected["sessions"].items():
        xp, patches = held.get(member, (0, 0))
        behind += xp < want["xp"] or patches < want["n"]
    return behind
