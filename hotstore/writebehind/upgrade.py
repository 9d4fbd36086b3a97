"""``hotstore migrate-layout``: upgrade a running single-tag namespace to the sharded layout, losing nothing.

Steps, each safe to re-run or interrupt, while bots keep running (docs/design.md, "Change: the sharded layout and
its upgrade"):

a. every single-tag board is merged into its sharded key with ``ZADD GT`` (the higher absolute score wins; a weekly
   board's single-tag sum is that week's XP);
b. SQL ``users.week``/``week_xp`` are raised to the single-tag board of the current week, so a later cold load
   continues the week (only raised: a flushed higher value is kept; the version is not touched);
c. every single-tag entity is adopted as the read-through does (:class:`~hotstore.core.legacy_layout.LegacyLayout`):
   the dirty sets first, then ``SCAN`` of the entity patterns;
d. when nothing single-tag is left, the single-tag boards are deleted and the layout marker is set (atomically with
   a last check of the dirty sets and the boards).

The workers run it from their rebuild tick under the lease ``{ns}:lock:upgrade`` while the marker is missing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import and_, bindparam, or_, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core.cluster import RedisClient
from hotstore.core.keys import SingleTagKeys, iso_week, telegram_id_of
from hotstore.core.legacy_layout import (
    DOCUMENT,
    SESSION,
    USER,
    Entity,
    LegacyLayout,
    is_legacy_key,
    legacy_dirty_sets,
)
from hotstore.core.loader import transaction
from hotstore.core.redis_client import reachable
from hotstore.core.scripts import LAYOUT_PROBE, Scripts
from hotstore.core.settings import Settings
from persistence.clock import utc_now
from persistence.models import User

log = logging.getLogger("hotstore.writebehind")

BATCH = 500  # entities per adoption batch, board entries per ZADD, SQL rows per statement
SCAN_COUNT = 1000


@dataclass
class LayoutReport:
    """What one run did and what it left (``left``: single-tag keys still present, by kind)."""

    boards: int = 0
    board_entries: int = 0
    weeks_seeded: int = 0
    adopted: int = 0
    left: dict[str, int] = field(default_factory=dict)
    done: bool = False

    def summary(self) -> str:
        if self.done:
            head = "layout: sharded (nothing of the single-tag layout is left)"
        else:
            parts = ", ".join(f"{count} {kind}" for kind, count in sorted(self.left.items()) if count)
            head = f"layout: single-tag keys left: {parts or 'none'}"
        return (f"{head}\nboards merged: {self.boards} ({self.board_entries} entries), users' week seeded in SQL: "
                f"{self.weeks_seeded}, entities adopted: {self.adopted}")


class LayoutUpgrade:
    """The upgrade of one namespace (the CLI and the workers' tick run it)."""

    def __init__(self, redis: RedisClient, engine: AsyncEngine, settings: Settings,
                 scripts: Scripts | None = None) -> None:
        self.redis = redis
        self.engine = engine
        self.settings = settings
        self.keys = settings.keys
        self.legacy = SingleTagKeys(self.keys.namespace)
        self.scripts = scripts or Scripts(redis)
        self.layout = LegacyLayout(redis, self.scripts, self.keys, settings.idle_ttl, settings.weekly_board_weeks)

    async def marker_set(self) -> bool:
        return int(await self.scripts.call(LAYOUT_PROBE, [self.keys.layout], [self.keys.layout_label, "0"])) == 2

    async def _scan(self, pattern: str) -> list[str]:
        async with reachable():
            return [key.decode() if isinstance(key, bytes) else str(key)
                    async for key in self.redis.scan_iter(match=pattern, count=SCAN_COUNT)]

    async def left(self) -> dict[str, int]:
        """Single-tag keys still present: dirty marks per kind, entity hashes per kind, boards."""
        legacy = self.legacy
        found: dict[str, int] = {}
        async with reachable():
            for name, key in zip(("dirty users", "dirty sessions", "dirty documents"), legacy_dirty_sets(legacy),
                                 strict=True):
                found[name] = int(await self.redis.zcard(key))
        for name, pattern in (("users", legacy.user_pattern), ("sessions", legacy.session_pattern),
                              ("documents", legacy.document_pattern), ("boards", legacy.board_pattern)):
            found[name] = sum(1 for key in await self._scan(pattern) if is_legacy_key(legacy, key))
        return found

    async def check(self) -> LayoutReport:
        """What is left, writing nothing (``hotstore migrate-layout --check``)."""
        if await self.marker_set():
            return LayoutReport(done=True)
        left = await self.left()
        return LayoutReport(left=left, done=not any(left.values()))  # nothing left: the next run sets the marker

    async def run(self) -> LayoutReport:
        """All four steps; ``done`` when the marker is set at the end."""
        report = LayoutReport()
        if await self.marker_set():
            report.done = True
            return report
        await self.merge_boards(report)
        await self.seed_weeks(report)
        await self.adopt_all(report)
        report.left = await self.left()
        if not any(count for kind, count in report.left.items() if kind != "boards"):
            await self._finish()
            report.done = await self.marker_set()
            if report.done:
                report.left = {}
        return report

    # -- a. boards -------------------------------------------------------------------------------------------
    def _sharded_board(self, legacy_board: str) -> str | None:
        rest = legacy_board[len(self.legacy.tag) + 1:]
        if rest == "lb:g":
            return self.keys.global_board
        if rest.startswith("lb:b:") and ":tmp:" not in rest:
            return self.keys.bot_board(rest[len("lb:b:"):])
        if rest.startswith("lb:w:") and ":tmp:" not in rest:
            return self.keys.weekly_board(rest[len("lb:w:"):])
        return None  # a temporary board of an interrupted rebuild: deleted at the end

    async def merge_boards(self, report: LayoutReport) -> None:
        for board in await self._scan(self.legacy.board_pattern):
            target = self._sharded_board(board)
            if target is None:
                continue
            report.boards += 1
            batch: dict[str, float] = {}
            async with reachable():
                async for member, score in self.redis.zscan_iter(board, count=BATCH):
                    batch[member.decode() if isinstance(member, bytes) else member] = score
                    if len(batch) >= BATCH:
                        report.board_entries += len(batch)
                        await self.redis.zadd(target, batch, gt=True)  # ZADD GT: the higher absolute score
                        batch = {}
                if batch:
                    report.board_entries += len(batch)
                    await self.redis.zadd(target, batch, gt=True)

    # -- b. the week's XP in SQL -----------------------------------------------------------------------------
    async def seed_weeks(self, report: LayoutReport) -> None:
        week = iso_week(utc_now())
        statement = (
            update(User)
            .where(User.telegram_id == bindparam("tg"),
                   or_(User.week.is_(None), User.week < week,
                       and_(User.week == week, User.week_xp < bindparam("wx"))))
            .values(week=week, week_xp=bindparam("wx"))
            .execution_options(synchronize_session=False)
        )
        rows: list[dict[str, int]] = []
        async with reachable():
            async for member, score in self.redis.zscan_iter(self.legacy.weekly_board(week), count=BATCH):
                rows.append({"tg": telegram_id_of(member), "wx": int(score)})
                if len(rows) >= BATCH:
                    report.weeks_seeded += await self._update(statement, rows)
                    rows = []
        if rows:
            report.weeks_seeded += await self._update(statement, rows)

    async def _update(self, statement: object, rows: list[dict[str, int]]) -> int:
        async with transaction(self.engine) as conn:
            await conn.execute(statement, rows)  # type: ignore[call-overload]
        return len(rows)

    # -- c. entities -----------------------------------------------------------------------------------------
    async def adopt_all(self, report: LayoutReport) -> None:
        legacy = self.legacy
        for kind, dirty_set in zip((USER, SESSION, DOCUMENT), legacy_dirty_sets(legacy), strict=True):
            while True:  # dirty first: adoption removes the mark, so each round reads what is left
                async with reachable():
                    members = await self.redis.zrange(dirty_set, 0, BATCH - 1)
                if not members:
                    break
                entities = [Entity(kind, m.decode() if isinstance(m, bytes) else m) for m in members]
                adopted = await self._adopt(entities, dirty_set)
                if adopted is None:
                    return  # the marker is set: another run finished the upgrade
                report.adopted += adopted
        prefix = legacy.tag + ":"
        for kind, pattern in ((USER, legacy.user_pattern), (SESSION, legacy.session_pattern),
                              (DOCUMENT, legacy.document_pattern)):
            found = [Entity(kind, key[len(prefix) + 2:]) for key in await self._scan(pattern)]
            for start in range(0, len(found), BATCH):
                adopted = await self._adopt(found[start:start + BATCH], None)
                if adopted is None:
                    return
                report.adopted += adopted

    async def _adopt(self, entities: list[Entity], dirty_set: str | None) -> int | None:
        """Adopt a batch; None when the marker is set (nothing single-tag left)."""
        adoption = await self.layout.adopt(entities)
        if adoption is None:
            return None
        if dirty_set is not None and adoption.found < len(entities):
            # a dirty mark without its hash (the hash was deleted, e.g. a deleted user): nothing to keep; the
            # marks of the adopted ones are gone already, and single-tag keys are never written again
            async with reachable():
                await self.redis.zrem(dirty_set, *(entity.member for entity in entities))
        return adoption.adopted

    # -- d. the end ------------------------------------------------------------------------------------------
    async def _finish(self) -> None:
        boards = await self._scan(self.legacy.board_pattern)
        async with reachable():
            for board in boards:
                await self.redis.delete(board)
            await self.redis.delete(self.legacy.flush_lock)  # the one flush lease of 0.4; shard leases replaced it
        await self.scripts.call(LAYOUT_PROBE, self.layout.probe_keys(), [self.keys.layout_label, "1"])
        log.info("namespace %s: upgraded to the sharded layout", self.keys.namespace)


async def migrate_layout(redis: RedisClient, engine: AsyncEngine, settings: Settings, *,
                         check: bool = False) -> LayoutReport:
    """Run the upgrade of ``settings.namespace`` (or, with ``check``, report what is left)."""
    upgrade = LayoutUpgrade(redis, engine, settings)
    return await upgrade.check() if check else await upgrade.run()
