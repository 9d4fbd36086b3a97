"""Write-behind flush: dirty entities from Redis to SQL, in batches, crash-safe and safe to run twice.

One batch (:func:`flush_batch`) is three steps, each safe to interrupt:

1. read: the oldest dirty members (lowest first-dirty score) over the shards flushed, and their hashes, in one
   pipeline (on a cluster, one per node: redis-py splits it);
2. write: one SQL transaction of version-guarded upserts (``… WHERE table.version <= excluded.version``),
   rows deduplicated by key and sorted by it (two flushers then lock rows in the same order: no deadlock);
3. compare-and-clean (one Lua script per shard touched, sent together): a member leaves the dirty set only if
   its hash still has the flushed version; otherwise it stays dirty and moves to the back of the set.

Between 1 and 2, the users' and sessions' absolute board scores go to their boards with ``ZADD GT`` (one
pipeline; :mod:`hotstore.writebehind.board_scores`): an award whose board write was lost (a process died between
the award script and its board write on a cluster, a board's node failed) is on its boards again after one flush.
GT never lowers a board, so a stale read cannot undo a newer award; take-backs are the recheck's
(:mod:`hotstore.writebehind.board_recheck`).

One batch spans shards, so SQL sees batches as large as before the layout was sharded (a batch per shard
would make 64 small transactions of a light load).

A crash between 2 and 3 leaves the members dirty and the next flush repeats the upsert, which the version
guard turns into a no-op. Two flushers at once may both write a row; the guard keeps the newest.

A row SQL refuses (SQLSTATE class 22/23: :func:`~hotstore.core.sql_errors.refused_by_sql`) refuses only
itself: the batch is retried row by row, the refused row stays dirty and is recorded in ``keys.refused``
(:mod:`hotstore.writebehind.refused`); later batches write the rows recorded there one by one, apart from the
others, and a recorded row that flushes, or whose entity is gone, is cleared.

Example::

    totals = await drain(redis, engine, settings)      # everything dirty when it started
    print(totals.rows, totals.remaining)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core.cluster import RedisClient
from hotstore.core.errors import StoreFull
from hotstore.core.keys import KeyScheme
from hotstore.core.scripts import COMPARE_AND_CLEAN, Scripts
from hotstore.core.settings import Settings
from hotstore.core.sql_errors import refused_by_sql
from hotstore.writebehind.board_scores import flushed_scores, raise_boards
from hotstore.writebehind.conflicts import RowKey, conflicts_of, rebase, sql_versions
from hotstore.writebehind.entities import DOCUMENTS, ENTITIES, SESSIONS, USERS, Entity, Row
from hotstore.writebehind.metrics import record_conflicts, record_rows
from hotstore.writebehind.metrics import record_refused as count_refused_rows
from hotstore.writebehind.refused import RefusedRow, clear_refused, record_refused
from hotstore.writebehind.telemetry import batch_timer
from persistence.clock import now_ms

log = logging.getLogger(__name__)

NOT_FLUSHED = "\x00unflushable"  # never equal to a hash's version: the member stays dirty


@dataclass
class DirtyBatch:
    """What one flush read: members, their hash keys, the version each was read at, and the SQL rows."""

    entity: Entity
    members: list[str] = field(default_factory=list)
    shards: list[int] = field(default_factory=list)  # each member's shard
    keys: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)  # '' when the hash was gone
    rows: list[Row] = field(default_factory=list)
    row_keys: list[tuple[Any, ...] | None] = field(default_factory=list)  # each member's SQL key, if it has a row
    max_score: float = 0.0
    recorded: set[str] = field(default_factory=set)  # hash keys already in keys.refused when read
    unreadable: dict[str, str] = field(default_factory=dict)  # hash key → why its hash makes no row
    hashes: list[dict[bytes, bytes]] = field(default_factory=list)  # each member's hash as read ({} when gone)

    def exclude(self, rejected: Mapping[tuple[Any, ...], str]) -> None:
        """Keep the members of ``rejected`` rows dirty: compare-and-clean must not clean what SQL refused."""
        for index, row_key in enumerate(self.row_keys):
            if row_key in rejected:
                self.versions[index] = NOT_FLUSHED

    def conflicted(self, conflicts: dict[RowKey, int]) -> list[tuple[str, str, str, int]]:
        """The ``(member, hash key, version read, SQL version)`` of members in conflict, now excluded from
        compare-and-clean: SQL does not hold their state yet."""
        targets = []
        for index, row_key in enumerate(self.row_keys):
            if row_key is not None and row_key in conflicts:
                targets.append((self.members[index], self.keys[index], self.versions[index], conflicts[row_key]))
                self.versions[index] = NOT_FLUSHED
        return targets

    def suspects(self) -> set[tuple[Any, ...]]:
        """The SQL keys of rows recorded as refused before: written one by one, apart from the others."""
        return {row_key for key, row_key in zip(self.keys, self.row_keys, strict=True)
                if row_key is not None and key in self.recorded}

    def refusals(self, rejected: Mapping[tuple[Any, ...], str]) -> tuple[list[RefusedRow], list[str]]:
        """What to record in ``keys.refused`` (refused now) and what to clear from it (recorded, not refused now)."""
        at, refused, cleared = now_ms(), [], []
        for member, key, row_key in zip(self.members, self.keys, self.row_keys, strict=True):
            error = self.unreadable.get(key) or (rejected.get(row_key) if row_key is not None else None)
            if error is not None:
                refused.append(RefusedRow(key, self.entity.name, member, error, at))
            elif key in self.recorded:
                cleared.append(key)
        return refused, cleared


@dataclass
class FlushTotals:
    """What a drain did: rows upserted, dirty marks removed, marks kept (rewritten meanwhile), batches."""

    rows: int = 0
    cleaned: int = 0
    kept: int = 0
    batches: int = 0
    rejected: int = 0  # rows SQL refused (e.g. a NUL planted in a session); kept dirty, logged, in keys.refused
    conflicts: int = 0  # entities Redis holds below SQL's version (a Redis rollback): rebased, kept dirty
    remaining: int = 0  # dirty members left when the drain ended (users + sessions + documents)


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _shards(keys: KeyScheme, shards: Iterable[int] | None) -> list[int]:
    return list(keys.all_shards() if shards is None else shards)


async def read_dirty(
    redis: RedisClient,
    keys: KeyScheme,
    entity: Entity,
    limit: int,
    max_score: float | str = "+inf",
    shards: Iterable[int] | None = None,
) -> DirtyBatch:
    """The oldest ``limit`` dirty members with score ≤ ``max_score`` over ``shards`` (None: all), their hashes read
    in one pipeline."""
    batch = DirtyBatch(entity)
    wanted = _shards(keys, shards)
    if not wanted:
        return batch
    async with redis.pipeline(transaction=False) as pipe:
        for shard in wanted:
            pipe.zrangebyscore(entity.dirty_set(keys, shard), "-inf", max_score, start=0, num=limit, withscores=True)
        per_shard = await pipe.execute()
    scored = sorted((score, shard, _text(member)) for shard, found in zip(wanted, per_shard, strict=True)
                    for member, score in found)[:limit]
    if not scored:
        return batch
    batch.members = [member for _, _, member in scored]
    batch.shards = [shard for _, shard, _ in scored]
    batch.max_score = max(score for score, _, _ in scored)
    batch.keys = [entity.hash_key(keys, member) for member in batch.members]
    async with redis.pipeline(transaction=False) as pipe:
        for key in batch.keys:
            pipe.hgetall(key)
        pipe.hmget(keys.refused, batch.keys)
        *hashes, recorded = await pipe.execute()
    batch.hashes = hashes
    batch.recorded = {key for key, entry in zip(batch.keys, recorded, strict=True) if entry is not None}
    newest: dict[tuple[Any, ...], Row] = {}
    for member, key, fields in zip(batch.members, batch.keys, hashes, strict=True):
        version = fields.get(b"v") if fields else None
        if not fields:
            batch.versions.append("")  # gone: nothing to write, compare-and-clean just drops the mark
            batch.row_keys.append(None)
            continue
        row, why = _safe_row(entity, member, fields)
        if row is None or version is None:
            batch.unreadable[key] = why or "the hash has no version"
            batch.versions.append(NOT_FLUSHED)
            batch.row_keys.append(None)
            continue
        batch.versions.append(version.decode())
        row_key = entity.key_of(row)
        batch.row_keys.append(row_key)
        if row_key not in newest or newest[row_key]["version"] < row["version"]:
            newest[row_key] = row  # PostgreSQL refuses to touch one row twice in a statement
    batch.rows = [newest[key] for key in sorted(newest)]
    return batch


def _safe_row(entity: Entity, member: str, fields: dict[bytes, bytes]) -> tuple[Row | None, str | None]:
    """The member's row, or ``(None, why)`` when its hash cannot make one (it stays dirty, recorded as refused)."""
    try:
        row = entity.to_row(member, fields)
    except (ValueError, TypeError) as exc:  # a malformed hash must not block the whole dirty set
        log.error("cannot flush %s %s (kept dirty): %s", entity.name, member, exc)
        return None, f"cannot make an SQL row of the hash: {type(exc).__name__}: {exc}"
    return row, None if row is not None else "the hash makes no SQL row"


async def write_rows(engine: AsyncEngine, entity: Entity, rows: list[Row]) -> dict[RowKey, int]:
    """Upsert ``rows`` in one transaction; a row never replaces a newer version (invariant 3). Returns the
    conflicts: rows SQL holds at a newer version than flushed (row key → SQL's version; see
    :mod:`hotstore.writebehind.conflicts`)."""
    if not rows:
        return {}
    async with engine.begin() as conn:
        await conn.execute(entity.upsert(conn.dialect.name), rows)
        return conflicts_of(entity, rows, await sql_versions(conn, entity, rows))


async def write_rows_isolating_rejects(
    engine: AsyncEngine, entity: Entity, rows: list[Row], *, one_by_one: bool = False
) -> tuple[dict[tuple[Any, ...], str], dict[RowKey, int]]:
    """Upsert ``rows`` in one transaction (``one_by_one``: each in its own); if SQL refuses one, write them one by
    one. Returns the refused rows' keys with SQL's error, and the conflicts (:func:`write_rows`).

    One bad row (a NUL planted in a session, a session whose user row was deleted meanwhile) must not stop every
    other row behind it. Unreachable-SQL errors propagate (the caller backs off).
    """
    if not one_by_one:
        try:
            return {}, await write_rows(engine, entity, rows)
        except Exception as exc:
            if not refused_by_sql(exc):
                raise
    rejected: dict[tuple[Any, ...], str] = {}
    conflicts: dict[RowKey, int] = {}
    for row in rows:
        try:
            conflicts.update(await write_rows(engine, entity, [row]))
        except Exception as exc:
            if not refused_by_sql(exc):
                raise
            rejected[entity.key_of(row)] = f"{type(exc).__name__}: {exc}"
            log.error("SQL refused %s row %s (kept dirty in Redis): %s", entity.name, entity.key_of(row), exc)
    return rejected, conflicts


async def write_batch(engine: AsyncEngine, batch: DirtyBatch) -> tuple[dict[tuple[Any, ...], str], dict[RowKey, int]]:
    """Write ``batch``'s rows: those refused before one by one, the others in one transaction. Returns the refused
    rows and the conflicts."""
    suspects = batch.suspects()
    entity = batch.entity
    rejected, conflicts = await write_rows_isolating_rejects(
        engine, entity, [row for row in batch.rows if entity.key_of(row) not in suspects])
    again, more = await write_rows_isolating_rejects(
        engine, entity, [row for row in batch.rows if entity.key_of(row) in suspects], one_by_one=True)
    rejected.update(again)
    conflicts.update(more)
    return rejected, conflicts


async def compare_and_clean(
    redis: RedisClient, scripts: Scripts, keys: KeyScheme, batch: DirtyBatch, idle_ttl_s: int
) -> tuple[int, int]:
    """Remove the dirty mark of every member still at its flushed version; return ``(cleaned, kept)``."""
    if not batch.members:
        return 0, 0
    requeue_at = max(now_ms(), int(batch.max_score) + 1)  # behind everything this batch took
    groups: dict[int, tuple[list[str], list[object]]] = {}
    for shard, member, key, version in zip(batch.shards, batch.members, batch.keys, batch.versions, strict=True):
        shard_keys, args = groups.setdefault(shard, ([batch.entity.dirty_set(keys, shard)], [idle_ttl_s * 1000,
                                                                                            requeue_at]))
        shard_keys.append(key)
        args += [member, version]

    async def clean(shard_keys: list[str], args: list[object]) -> tuple[int, int]:
        try:
            cleaned, kept = await scripts.call(COMPARE_AND_CLEAN, shard_keys, args)
        except StoreFull:  # refused before its first write (nothing was cleanable): the shard's members stay dirty
            return 0, len(shard_keys) - 1
        return int(cleaned), int(kept)

    results = await asyncio.gather(*(clean(shard_keys, args) for shard_keys, args in groups.values()))
    return sum(r[0] for r in results), sum(r[1] for r in results)


async def flush_batch(
    redis: RedisClient,
    engine: AsyncEngine,
    settings: Settings,
    entity: Entity,
    *,
    scripts: Scripts | None = None,
    max_score: float | str = "+inf",
    shards: Iterable[int] | None = None,
) -> FlushTotals:
    """Flush the oldest ``settings.flush_batch`` dirty members of ``entity`` over ``shards`` (None: all): read,
    upsert, compare-and-clean."""
    scripts = scripts or Scripts(redis)
    with batch_timer(entity.name) as timing:  # Prometheus: latency, rows; a raise counts as an outage
        batch = await read_dirty(redis, settings.keys, entity, settings.flush_batch, max_score, shards)
        # Board repair: ZADD GT of the absolute scores just read (never fails the flush; see board_scores).
        await raise_boards(redis, flushed_scores(entity.name, settings.keys, batch.members, batch.hashes,
                                                 today=datetime.now(UTC).date(), weeks=settings.weekly_board_weeks))
        rejected, conflicts = await write_batch(engine, batch)
        batch.exclude(rejected)
        # Rebased: entities whose hash still had the version read, i.e. Redis is behind SQL (a rollback). A hash
        # written since is not (a concurrent flusher may just have been faster): its next flush looks again.
        rebased = await rebase(scripts, settings.keys, entity, batch.conflicted(conflicts))
        await record_conflicts(redis, settings.keys, rebased)
        cleaned, kept = await compare_and_clean(redis, scripts, settings.keys, batch, settings.idle_ttl)
        refused, cleared = batch.refusals(rejected)
        await record_refused(redis, settings.keys, refused)
        await clear_refused(redis, settings.keys, cleared)
    if batch.members:
        timing.done(rows=len(batch.rows) - len(rejected))
    return FlushTotals(
        rows=len(batch.rows) - len(rejected) - len(conflicts),
        cleaned=cleaned,
        kept=kept,
        batches=1 if batch.members else 0,
        rejected=len(rejected),
        conflicts=rebased,
    )


async def flush_dirty_users(redis: RedisClient, engine: AsyncEngine, settings: Settings) -> FlushTotals:
    """One batch of dirty users."""
    return await flush_batch(redis, engine, settings, USERS)


async def flush_dirty_sessions(redis: RedisClient, engine: AsyncEngine, settings: Settings) -> FlushTotals:
    """One batch of dirty bot sessions."""
    return await flush_batch(redis, engine, settings, SESSIONS)


async def flush_dirty_documents(redis: RedisClient, engine: AsyncEngine, settings: Settings) -> FlushTotals:
    """One batch of dirty bot documents."""
    return await flush_batch(redis, engine, settings, DOCUMENTS)


async def dirty_counts(redis: RedisClient, keys: KeyScheme, shards: Iterable[int] | None = None) -> dict[str, int]:
    """Dirty members per entity, summed over ``shards`` (None: all)."""
    wanted = _shards(keys, shards)
    async with redis.pipeline(transaction=False) as pipe:
        for entity in ENTITIES:
            for shard in wanted:
                pipe.zcard(entity.dirty_set(keys, shard))
        counts = await pipe.execute()
    n = len(wanted)
    return {entity.name: sum(int(x) for x in counts[i * n:(i + 1) * n]) for i, entity in enumerate(ENTITIES)}


async def oldest_dirty_score(redis: RedisClient, keys: KeyScheme, entity: Entity | None = None,
                             shards: Iterable[int] | None = None) -> float | None:
    """The lowest first-dirty score of ``entity`` (None: every entity) over ``shards`` (None: all); None when
    nothing is dirty."""
    wanted = _shards(keys, shards)
    entities = ENTITIES if entity is None else (entity,)
    async with redis.pipeline(transaction=False) as pipe:
        for kind in entities:
            for shard in wanted:
                pipe.zrange(kind.dirty_set(keys, shard), 0, 0, withscores=True)
        first = await pipe.execute()
    scores = [found[0][1] for found in first if found]
    return min(scores) if scores else None


async def newest_dirty_score(redis: RedisClient, keys: KeyScheme, entity: Entity, shards: Iterable[int] | None = None
                             ) -> float | None:
    """The highest first-dirty score of ``entity`` over ``shards`` (None: all); None when none is dirty."""
    wanted = _shards(keys, shards)
    async with redis.pipeline(transaction=False) as pipe:
        for shard in wanted:
            pipe.zrange(entity.dirty_set(keys, shard), -1, -1, withscores=True)
        newest = await pipe.execute()
    scores = [found[0][1] for found in newest if found]
    return max(scores) if scores else None


async def drain(
    redis: RedisClient,
    engine: AsyncEngine,
    settings: Settings,
    *,
    budget_s: float | None = None,
    scripts: Scripts | None = None,
    shards: Iterable[int] | None = None,
) -> FlushTotals:
    """Flush, batch after batch, everything that was dirty when the drain started (users, sessions, documents) in
    ``shards`` (None: all).

    Ends when those members are flushed, when a batch makes no progress (all rewritten meanwhile: they are
    flushed, and moved behind the bound), or when ``budget_s`` seconds have passed. Errors propagate.
    """
    scripts = scripts or Scripts(redis)
    started = time.monotonic()
    totals = FlushTotals()
    wanted = _shards(settings.keys, shards)
    for entity in ENTITIES:
        bound = await newest_dirty_score(redis, settings.keys, entity, wanted)
        if bound is None:  # members that became dirty after ``bound`` are the next drain's work
            continue
        while budget_s is None or time.monotonic() - started < budget_s:
            step = await flush_batch(redis, engine, settings, entity, scripts=scripts, max_score=bound, shards=wanted)
            await record_rows(redis, settings.keys, step.rows)
            _add(totals, step)
            if step.batches == 0 or step.cleaned == 0:
                break
    await count_refused_rows(redis, settings.keys, totals.rejected)
    totals.remaining = sum((await dirty_counts(redis, settings.keys, wanted)).values())
    return totals


def _add(totals: FlushTotals, step: FlushTotals) -> None:
    totals.rows += step.rows
    totals.cleaned += step.cleaned
    totals.kept += step.kept
    totals.batches += step.batches
    totals.rejected += step.rejected
    totals.conflicts += step.conflicts
