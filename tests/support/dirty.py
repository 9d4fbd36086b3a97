"""Dirty marks over every shard, for assertions: how many, which, and one member's first-dirty score."""

from __future__ import annotations

from hotstore.core.cluster import RedisClient
from hotstore.core.keys import KeyScheme
from hotstore.writebehind.entities import ENTITIES, Entity

_BY_NAME = {entity.name: entity for entity in ENTITIES}


def _entity(name: str) -> Entity:
    return _BY_NAME[name]


async def dirty_count(redis: RedisClient, keys: KeyScheme, entity: str) -> int:
    """Dirty members of ``entity`` (``users``, ``sessions``, ``documents``) summed over the shards."""
    kind = _entity(entity)
    async with redis.pipeline(transaction=False) as pipe:
        for shard in keys.all_shards():
            pipe.zcard(kind.dirty_set(keys, shard))
        counts = await pipe.execute()
    return sum(int(n) for n in counts)


async def dirty_members(redis: RedisClient, keys: KeyScheme, entity: str) -> list[str]:
    """Every dirty member of ``entity``, oldest first (by first-dirty score, then member)."""
    kind = _entity(entity)
    async with redis.pipeline(transaction=False) as pipe:
        for shard in keys.all_shards():
            pipe.zrange(kind.dirty_set(keys, shard), 0, -1, withscores=True)
        found = await pipe.execute()
    scored = sorted((score, m.decode() if isinstance(m, bytes) else m) for part in found for m, score in part)
    return [member for _, member in scored]


async def dirty_score(redis: RedisClient, keys: KeyScheme, entity: str, member: str) -> float | None:
    """The first-dirty score of one member (None: not dirty)."""
    kind = _entity(entity)
    score = await redis.zscore(kind.dirty_set(keys, kind.shard_of(keys, member)), member)
    return None if score is None else float(score)


def dirty_set_of(keys: KeyScheme, entity: str, member: str) -> str:
    """The dirty set (of its shard) a member belongs in."""
    kind = _entity(entity)
    return kind.dirty_set(keys, kind.shard_of(keys, member))
