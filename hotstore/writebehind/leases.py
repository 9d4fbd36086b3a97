"""Flush leases per shard: N flush workers of a namespace flush disjoint sets of its virtual shards.

Each worker refreshes its leases at least every ``heartbeat_ms``; one refresh is one script
(``hotstore/core/lua/shard_leases.lua``) that records the worker's heartbeat in ``keys.workers``, drops the workers
silent for longer than ``lease_ms``, and leaves this worker holding its fair share of the shards::

    leases = ShardLeases(redis, keys, default_worker_id())
    mine = await leases.refresh()        # frozenset of shard numbers, disjoint from every other live worker's
    ...                                  # flush the dirty sets of those shards, refresh again within heartbeat_ms
    await leases.release()               # a clean stop: the others take the shards at their next refresh

Shares are deterministic (the live workers sorted by id; ``shards mod N`` of them get one shard more), so with N
live workers each holds ``floor`` or ``ceil`` of ``shards / N`` once every worker refreshed twice, and the shards of
a worker that died (no heartbeat for ``lease_ms``) go to the survivors. ``now`` is the client's clock (the
``clock`` argument, :func:`persistence.clock.now_ms` by default), like every other score of a namespace.

A lease only saves duplicate work. Invariant 3 (the version-guarded upsert) and compare-and-clean keep SQL right
when two workers flush one shard at once: a paused worker that wakes after its shards were taken over, or clocks
that disagree by more than a lease. :meth:`ShardLeases.holds` is a local check, no round trip: a flush may ask it
before each shard's batch to stop early on shards it may have lost, and need not ask again before it writes.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable

from hotstore.core import constants as c
from hotstore.core.cluster import RedisClient
from hotstore.core.errors import InvalidInput
from hotstore.core.keys import KeyScheme
from hotstore.core.scripts import SHARD_LEASES, Scripts
from persistence.clock import now_ms

__all__ = ["ShardLeases", "default_worker_id", "lease_holders"]

_REFRESH = "refresh"
_RELEASE = "release"


def default_worker_id() -> str:
    """``<host>:<pid>:<random>``: unique per process start, readable in ``{ns}:workers`` and the lease keys."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _positive_ms(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise InvalidInput(f"{name} must be a positive int of milliseconds: {value!r}")
    return value


class ShardLeases:
    """The shard leases of one flush worker of one namespace (one instance per worker process)."""

    def __init__(
        self,
        redis: RedisClient,
        keys: KeyScheme,
        worker_id: str,
        *,
        lease_ms: int = c.SHARD_LEASE_MS,
        heartbeat_ms: int = c.SHARD_LEASE_HEARTBEAT_MS,
        clock: Callable[[], int] = now_ms,
        scripts: Scripts | None = None,
    ) -> None:
        if not isinstance(keys, KeyScheme):
            raise InvalidInput(f"keys must be a KeyScheme: {keys!r}")
        if (not isinstance(worker_id, str) or not 1 <= len(worker_id) <= c.MAX_WORKER_ID_LENGTH
                or "\x00" in worker_id):
            raise InvalidInput(
                f"worker_id must be a str of 1-{c.MAX_WORKER_ID_LENGTH} characters without NUL: {str(worker_id)[:60]!r}"
            )
        self.lease_ms = _positive_ms("lease_ms", lease_ms)
        self.heartbeat_ms = _positive_ms("heartbeat_ms", heartbeat_ms)
        if heartbeat_ms >= lease_ms:
            raise InvalidInput(f"heartbeat_ms ({heartbeat_ms}) must be below lease_ms ({lease_ms}): a worker "
                               "refreshing that seldom loses its shards between two refreshes")
        self.keys = keys
        self.worker_id = worker_id
        self._clock = clock
        self._scripts = scripts if scripts is not None else Scripts(redis)
        self._script_keys = [keys.workers, *(keys.shard_lease(shard) for shard in keys.all_shards())]
        self._held: frozenset[int] = frozenset()
        self._valid_until = 0  # by self._clock: the leases of the last refresh expire no earlier than this

    @property
    def heartbeat_s(self) -> float:
        """How often to call :meth:`refresh`, in seconds (for the host's loop)."""
        return self.heartbeat_ms / 1000

    @property
    def held(self) -> frozenset[int]:
        """The shards of the last refresh, or none once its leases may have run out (no round trip)."""
        return self._held if self._clock() < self._valid_until else frozenset()

    def holds(self, shard: int) -> bool:
        """Whether this worker held ``shard`` at its last refresh and that lease cannot have run out since (no
        round trip). Clock skew between workers can make it wrong for a moment; SQL's version guard covers that."""
        if not isinstance(shard, int) or isinstance(shard, bool) or not 0 <= shard < self.keys.shards:
            raise InvalidInput(f"shard must be an int in 0..{self.keys.shards - 1}: {shard!r}")
        return shard in self.held

    async def refresh(self) -> frozenset[int]:
        """Heartbeat, then renew, give back and claim leases until this worker holds its share; one round trip.

        Returns the shards held now. Raises :class:`~hotstore.core.errors.StoreUnavailable` when Redis cannot be
        reached; the shards of the previous refresh then stay :meth:`held` until their leases may have run out.
        """
        now = self._clock()
        reply = await self._scripts.call(SHARD_LEASES, self._script_keys,
                                         [self.worker_id, now, self.lease_ms, _REFRESH])
        self._held = frozenset(int(shard) for shard in reply)
        self._valid_until = now + self.lease_ms
        return self._held

    async def release(self) -> None:
        """Give every lease of this worker back and leave ``keys.workers``: the other workers take its shards at
        their next refresh, without waiting for the leases to run out."""
        self._held = frozenset()
        self._valid_until = 0
        await self._scripts.call(SHARD_LEASES, self._script_keys, [self.worker_id, self._clock(), self.lease_ms,
                                                                   _RELEASE])


async def lease_holders(redis: RedisClient, keys: KeyScheme) -> tuple[dict[str, int], int]:
    """Who flushes what, for ``hotstore status``: the live workers (heartbeat in ``keys.workers``) with the number
    of shards each holds a lease on, and the number of shards no live worker holds. Two reads, no writes."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zrange(keys.workers, 0, -1)
        pipe.mget([keys.shard_lease(shard) for shard in keys.all_shards()])
        workers, leases = await pipe.execute()
    held: dict[str, int] = {(w.decode() if isinstance(w, bytes) else w): 0 for w in workers}
    free = 0
    for raw in leases:
        holder = raw.decode() if isinstance(raw, bytes) else raw
        if holder in held:
            held[holder] += 1
        else:
            free += 1
    return held, free
