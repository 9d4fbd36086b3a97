"""Version conflicts: flushed rows that SQL holds at a newer version than Redis, the trace of a Redis rollback.

Versions come from Redis (every write bumps the entity's ``v``), so without a fault SQL never holds a version
Redis has not reached. After a rollback (Redis restarted from an older snapshot, a lagging replica promoted) new
writes carry versions SQL has already seen: the version-guarded upsert skips them and, before this module,
compare-and-clean then removed their dirty marks: acknowledged writes never reached SQL.

Now each flush reads back the versions of the rows it upserted, in the same transaction (:func:`sql_versions`).
A row whose SQL version is above the one flushed is a *conflict*. Redis's state is the truth (invariant 11):
``rebase_version.lua`` lifts the entity's version to SQL's + 1 if the hash still has the version the flush read,
the entity stays dirty (compare-and-clean skips it) and its next flush overwrites the SQL row. A write that
landed meanwhile is never lost: the script then leaves the entity alone, and its own next flush rebases it.
Conflicts are counted in the metrics (``version_conflicts``) and logged once per episode by the runner.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from hotstore.core.errors import StoreFull
from hotstore.core.keys import KeyScheme
from hotstore.core.scripts import REBASE_VERSION, Scripts
from hotstore.writebehind.entities import Entity, Row
from persistence.clock import now_ms

RowKey = tuple[Any, ...]


async def sql_versions(conn: AsyncConnection, entity: Entity, rows: list[Row]) -> dict[RowKey, int]:
    """The version SQL holds for each of ``rows`` (read inside the upsert's transaction)."""
    columns = [entity.table.c[name] for name in entity.conflict]
    wanted = [entity.key_of(row) for row in rows]
    if len(columns) == 1:
        condition = columns[0].in_([key[0] for key in wanted])
    else:
        condition = tuple_(*columns).in_(wanted)
    result = await conn.execute(select(*columns, entity.table.c.version).where(condition))
    return {tuple(found[:-1]): int(found[-1]) for found in result.all()}


def conflicts_of(entity: Entity, rows: list[Row], versions: dict[RowKey, int]) -> dict[RowKey, int]:
    """The rows SQL holds at a newer version than the one flushed: row key → SQL's version."""
    conflicts: dict[RowKey, int] = {}
    for row in rows:
        key = entity.key_of(row)
        held = versions.get(key)
        if held is not None and held > int(row["version"]):
            conflicts[key] = held
    return conflicts


async def rebase(
    scripts: Scripts, keys: KeyScheme, entity: Entity, targets: list[tuple[str, str, str, int]]
) -> int:
    """Rebase ``(member, hash key, version read, SQL version)`` entities above SQL (one script per shard); returns
    how many were.

    A full Redis refuses the version write (:class:`StoreFull`): nothing is rebased then, the entities stay dirty
    and the next flush tries again."""
    groups: dict[str, tuple[list[str], list[object]]] = {}
    at = now_ms()
    for member, key, read, held in targets:
        dirty_set = entity.dirty_set(keys, entity.shard_of(keys, member))
        shard_keys, args = groups.setdefault(dirty_set, ([dirty_set], [at]))
        shard_keys.append(key)
        args += [member, read, held]
    rebased = 0
    for shard_keys, args in groups.values():
        try:
            rebased += int(await scripts.call(REBASE_VERSION, shard_keys, args))
        except StoreFull:
            continue
    return rebased
