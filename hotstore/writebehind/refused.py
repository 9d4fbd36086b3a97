"""Rows SQL refused: recorded in Redis with their error, shown by ``hotstore status``, cleared once they flush.

A row SQL refuses (a NUL planted in a session, a value too long, a session whose user row is gone) stays
dirty in Redis, so nothing acknowledged is lost, and is written on its own on every flush, so it never blocks
the others. The hash ``keys.refused`` names each one by the Redis key of its entity (so an operator can find and
repair it) with the error text and when it was last refused; ``hotstore status --check`` fails while any is
there. At most :data:`~hotstore.core.constants.REFUSED_ROWS_MAX` are kept (the rest are still logged and
still kept dirty; ``refused_count`` is then a lower bound).

Example::

    await record_refused(redis, keys, [RefusedRow("{hs}:s:spin_bot:42", "sessions", "spin_bot:42", "…", ms)])
    count, shown = await read_refused(redis, keys)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from hotstore.core import constants as c
from hotstore.core.cluster import RedisClient
from hotstore.core.keys import KeyScheme
from hotstore.writebehind.entities import ENTITIES

log = logging.getLogger(__name__)

MAX_ERROR_TEXT = 300


@dataclass(frozen=True)
class RefusedRow:
    """One refused row: the Redis key of its entity, the entity kind and dirty-set member, why, when (epoch ms)."""

    key: str
    entity: str
    member: str
    error: str
    at: int

    def encoded(self) -> str:
        fields = asdict(self)
        del fields["key"]
        fields["error"] = self.error[:MAX_ERROR_TEXT]
        return json.dumps(fields)

    @classmethod
    def decoded(cls, key: bytes | str, raw: bytes | str) -> RefusedRow:
        text_key = key.decode() if isinstance(key, bytes) else key
        try:
            fields = json.loads(raw)
            return cls(text_key, str(fields["entity"]), str(fields["member"]), str(fields["error"]), int(fields["at"]))
        except (ValueError, KeyError, TypeError):
            return cls(text_key, "?", "?", f"unreadable record: {raw!r}"[:MAX_ERROR_TEXT], 0)


async def record_refused(redis: RedisClient, keys: KeyScheme, rows: Sequence[RefusedRow]) -> None:
    """Record ``rows`` (best-effort: a failure here never fails the flush; the rows stay dirty regardless)."""
    if not rows:
        return
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hmget(keys.refused, [row.key for row in rows])
            pipe.hlen(keys.refused)
            known, length = await pipe.execute()
        room = max(0, c.REFUSED_ROWS_MAX - int(length))
        mapping: dict[str, str] = {}
        for row, old in zip(rows, known, strict=True):
            if old is not None or room > 0:
                mapping[row.key] = row.encoded()
                room -= old is None
        if mapping:
            async with redis.pipeline(transaction=False) as pipe:
                pipe.hset(keys.refused, mapping=mapping)
                await pipe.execute()
    except Exception as exc:
        log.warning("could not record %d refused rows: %s", len(rows), exc)


async def clear_refused(redis: RedisClient, keys: KeyScheme, entity_keys: Sequence[str]) -> None:
    """Forget the rows of ``entity_keys``: they flushed, or their entity is gone (best-effort)."""
    if not entity_keys:
        return
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hdel(keys.refused, *entity_keys)
            await pipe.execute()
    except Exception as exc:
        log.warning("could not clear %d refused rows: %s", len(entity_keys), exc)


async def read_refused(
    redis: RedisClient, keys: KeyScheme, *, shown: int = c.REFUSED_ROWS_SHOWN
) -> tuple[int, list[dict[str, Any]]]:
    """How many refused rows are still dirty, and the ``shown`` most recently refused as plain dicts (``key``,
    ``entity``, ``member``, ``error``, ``at``). Records whose member left its dirty set by another way (the
    user was deleted) are not counted."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.refused)
        (entries,) = await pipe.execute()
    rows = [RefusedRow.decoded(key, raw) for key, raw in entries.items()]
    entities = {entity.name: entity for entity in ENTITIES}
    known = [row for row in rows if row.entity in entities]
    async with redis.pipeline(transaction=False) as pipe:
        for row in known:
            entity = entities[row.entity]
            pipe.zscore(entity.dirty_set(keys, entity.shard_of(keys, row.member)), row.member)
        scores = await pipe.execute() if known else []
    live = [row for row, score in zip(known, scores, strict=True) if score is not None]
    live += [row for row in rows if row.entity not in entities]
    live.sort(key=lambda r: (-r.at, r.key))
    return len(live), [asdict(row) for row in live[:shown]]
