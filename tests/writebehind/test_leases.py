"""Flush leases per shard (hotstore.writebehind.leases): N workers hold disjoint shares of the shards, the shards of
a dead or stopped worker go to the others, a worker joining later gets its share.

Time is a test clock passed to every worker: a worker "dies" by not refreshing while the clock moves on, so
nothing here sleeps or times anything. Every observation reads the lease keys back as well: the shards a worker
believes it holds (:attr:`ShardLeases.held`) are the ones whose lease names it, and no shard is believed held by
two workers at once. The module runs on fakeredis, the real Redis and the local Redis Cluster (``on_cluster``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot
from redis.exceptions import OutOfMemoryError

from hotstore.core import constants as c
from hotstore.core.cluster import RedisClient
from hotstore.core.errors import InvalidInput
from hotstore.core.keys import KeyScheme
from hotstore.writebehind.leases import ShardLeases, default_worker_id
from tests.support.full_redis import make_full
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.on_cluster

# Long leases: the test clock decides who is dead, and the lease keys' PX (the server's real time) never runs out
# during a test, however slow the machine.
LEASE_MS = 600_000
HEARTBEAT_MS = 100_000
SHARDS = KeyScheme().shards


class TestClock:
    """Epoch milliseconds that move only when the test says so."""

    __test__ = False

    def __init__(self, start: int = 1_800_000_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@pytest.fixture
def lease_clock() -> TestClock:
    return TestClock()


@pytest.fixture
def make_worker(redis_client: RedisClient, namespace: str, lease_clock: TestClock) -> Callable[[str], ShardLeases]:
    """``make_worker(id)``: the ShardLeases of one worker of the test's namespace, on the test clock."""

    def make(worker_id: str) -> ShardLeases:
        return ShardLeases(redis_client, KeyScheme(namespace), worker_id, lease_ms=LEASE_MS,
                           heartbeat_ms=HEARTBEAT_MS, clock=lease_clock)

    return make


async def lease_holders(redis: RedisClient, keys: KeyScheme) -> dict[int, str]:
    """shard → the worker its lease key names (shards without a lease are left out); one MGET, one slot."""
    values = await redis.mget([keys.shard_lease(shard) for shard in keys.all_shards()])
    return {shard: value.decode() for shard, value in enumerate(values) if value is not None}


async def check_observation(redis: RedisClient, workers: Sequence[ShardLeases]) -> None:
    """What every worker believes it holds is disjoint from the others' and is what the lease keys say."""
    holders = await lease_holders(redis, workers[0].keys)
    seen: dict[int, str] = {}
    for worker in workers:
        for shard in worker.held:
            assert shard not in seen, f"shard {shard} held by {seen[shard]} and {worker.worker_id}"
            seen[shard] = worker.worker_id
            assert holders.get(shard) == worker.worker_id


def check_balanced(sets: Sequence[frozenset[int]]) -> None:
    """Disjoint, covering every shard, each of floor or ceil of shards / N."""
    union: set[int] = set()
    for held in sets:
        assert not union & held
        union |= held
    assert union == set(range(SHARDS))
    sizes = {len(held) for held in sets}
    assert sizes <= {SHARDS // len(sets), -(-SHARDS // len(sets))}, sizes


async def refresh_all(workers: Sequence[ShardLeases], redis: RedisClient) -> list[frozenset[int]]:
    held = []
    for worker in workers:
        held.append(await worker.refresh())
        await check_observation(redis, workers)
    return held


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7])
async def test_n_workers_hold_disjoint_balanced_shares_after_two_refreshes(
    make_worker: Callable[[str], ShardLeases], redis_client: RedisClient, count: int
) -> None:
    workers = [make_worker(f"worker-{i}") for i in range(count)]

    await refresh_all(workers, redis_client)
    held = await refresh_all(workers, redis_client)

    check_balanced(held)
    assert [worker.held for worker in workers] == held


async def test_refreshes_in_any_order_balance_once_everyone_refreshed_twice_after_joining(
    make_worker: Callable[[str], ShardLeases], redis_client: RedisClient
) -> None:
    shuffle = random.Random(14)
    workers = [make_worker(f"w{i}") for i in range(5)]
    await refresh_all(shuffle.sample(workers, len(workers)), redis_client)  # everyone has a heartbeat now

    for _ in range(2):
        await refresh_all(shuffle.sample(workers, len(workers)), redis_client)

    check_balanced([worker.held for worker in workers])


async def test_a_balanced_refresh_changes_no_lease(
    make_worker: Callable[[str], ShardLeases], redis_client: RedisClient, namespace: str
) -> None:
    workers = [make_worker(name) for name in ("a", "b", "c")]
    for _ in range(2):
        before = await refresh_all(workers, redis_client)
    holders = await lease_holders(redis_client, KeyScheme(namespace))

    assert await refresh_all(workers, redis_client) == before
    assert await lease_holders(redis_client, KeyScheme(namespace)) == holders


async def test_the_shards_of_a_worker_that_stops_refreshing_go_to_the_others_after_the_lease(
    make_worker: Callable[[str], ShardLeases], redis_client: RedisClient, lease_clock: TestClock
) -> None:
    a, b, dead = (make_worker(name) for name in ("a", "b", "dead"))
    workers = [a, b, dead]
    for _ in range(2):
        await refresh_all(workers, redis_client)
    orphaned = dead.held
    assert orphaned

    # the survivors keep their heartbeat; the dead one's lease still counts until its heartbeat is a lease old
    steps = LEASE_MS // HEARTBEAT_MS
    for _ in range(steps):
        lease_clock.advance(HEARTBEAT_MS)
        await refresh_all([a, b], redis_client)
        await check_observation(redis_client, workers)
        assert not (a.held | b.held) & orphaned
    assert not dead.held  # its own view ran out with its lease

    lease_clock.advance(1)  # now the dead worker's heartbeat is older than a lease
    await refresh_all([a, b], redis_client)
    await check_observation(redis_client, workers)
    held = await refresh_all([a, b], redis_client)

    check_balanced(held)
    assert await redis_client.zrange(a.keys.workers, 0, -1) == [b"a", b"b"]


async def test_a_worker_that_comes_back_after_its_shards_were_taken_gets_a_share_again(
    make_worker: Callable[[str], ShardLeases], redis_client: RedisClient, lease_clock: TestClock
) -> None:
    a, b = make_worker("a"), make_worker("b")
    for _ in range(2):
        await refresh_all([a, b], redis_client)
    lease_clock.advance(LEASE_MS + 1)  # b paused longer than its lease
    assert await a.refresh() == frozenset(range(SHARDS))

    back = await b.refresh()  # all shards are a's: b registers and waits
    assert back == frozenset()
    for _ in range(2):
        held = await refresh_all([a, b], redis_client)

    check_balanced(held)


async def test_release_hands_the_shards_over_at_the_others_next_refresh(
    make_worker: Callable[[str], ShardLeases], redis_client: RedisClient, namespace: str
) -> None:
    a, b = make_worker("a"), make_worker("b")
    for _ in range(2):
        await refresh_all([a, b], redis_client)
    keys = KeyScheme(namespace)

    await b.release()

    assert not b.held
    assert set((await lease_holders(redis_client, keys)).values()) == {"a"}
    assert await redis_client.zrange(keys.workers, 0, -1) == [b"a"]
    assert await a.refresh() == frozenset(range(SHARDS))  # no clock change: no wait for b's leases


async def test_a_worker_joining_later_gets_its_share_once_the_others_gave_up_their_surplus(
    make_worker: Callable[[str], ShardLeases], redis_client: RedisClient
) -> None:
    a, b = make_worker("a"), make_worker("b")
    for _ in range(2):
        await refresh_all([a, b], redis_client)
    late = make_worker("late")
    workers = [a, b, late]

    assert await late.refresh() == frozenset()  # nothing free yet
    await check_observation(redis_client, workers)
    await refresh_all([a, b], redis_client)  # they see three workers and give shards back
    assert len(a.held) + len(b.held) < SHARDS
    await late.refresh()
    await check_observation(redis_client, workers)

    check_balanced([a.held, b.held, late.held])


@pytest.mark.parametrize("seed", [1, 2])
async def test_random_joins_deaths_releases_and_pauses_never_give_a_shard_to_two_and_then_balance(
    make_worker: Callable[[str], ShardLeases], redis_client: RedisClient, lease_clock: TestClock, seed: int
) -> None:
    rng = random.Random(seed)
    everyone: list[ShardLeases] = []
    running: list[ShardLeases] = []

    def start() -> None:
        worker = make_worker(f"w{len(everyone):02d}")
        everyone.append(worker)
        running.append(worker)

    for _ in range(3):
        start()
    for _ in range(150):
        action = rng.random()
        if action < 0.6:
            await rng.choice(running).refresh()
        elif action < 0.8:
            lease_clock.advance(rng.randrange(HEARTBEAT_MS * 3))  # sometimes longer than some workers' leases
        elif action < 0.87 and len(running) > 1:
            running.remove(rng.choice(running))  # killed: it never refreshes again
        elif action < 0.93 and len(running) > 1:
            leaving = rng.choice(running)
            running.remove(leaving)
            await leaving.release()
        elif len(running) < 7:
            start()
        await check_observation(redis_client, everyone)

    lease_clock.advance(LEASE_MS + 1)  # every worker that stopped is now dead to the others
    for _ in range(3):  # one round to be seen again by each other, two to balance
        await refresh_all(running, redis_client)
    await check_observation(redis_client, everyone)
    check_balanced([worker.held for worker in running])
    live = await redis_client.zrange(running[0].keys.workers, 0, -1)
    assert sorted(member.decode() for member in live) == sorted(worker.worker_id for worker in running)


async def test_holds_answers_from_the_last_refresh_until_its_leases_may_have_run_out(
    make_worker: Callable[[str], ShardLeases], lease_clock: TestClock
) -> None:
    worker = make_worker("solo")
    assert not worker.holds(0)

    await worker.refresh()
    assert worker.holds(0) and worker.holds(SHARDS - 1)
    lease_clock.advance(LEASE_MS - 1)
    assert worker.holds(0)
    lease_clock.advance(1)
    assert not worker.holds(0) and worker.held == frozenset()


@pytest.mark.parametrize("worker_id", ["", "a\x00b", "x" * (c.MAX_WORKER_ID_LENGTH + 1), 7, None])
async def test_a_bad_worker_id_is_refused_and_nothing_is_written(
    redis_client: RedisClient, namespace: str, worker_id: object
) -> None:
    keys = KeyScheme(namespace)
    with pytest.raises(InvalidInput, match="worker_id"):
        ShardLeases(redis_client, keys, worker_id)  # type: ignore[arg-type]
    assert await redis_client.exists(keys.workers, keys.shard_lease(0)) == 0


@pytest.mark.parametrize(("lease_ms", "heartbeat_ms", "named"), [
    (0, 1, "lease_ms"), (-5, 1, "lease_ms"), (True, 1, "lease_ms"), (1.5, 1, "lease_ms"), ("5000", 1, "lease_ms"),
    (5_000, 0, "heartbeat_ms"), (5_000, 5_000, "heartbeat_ms"), (5_000, 9_000, "heartbeat_ms"),
])
async def test_bad_lease_timings_are_refused(
    redis_client: RedisClient, namespace: str, lease_ms: object, heartbeat_ms: object, named: str
) -> None:
    with pytest.raises(InvalidInput, match=named):
        ShardLeases(redis_client, KeyScheme(namespace), "w", lease_ms=lease_ms,  # type: ignore[arg-type]
                    heartbeat_ms=heartbeat_ms)  # type: ignore[arg-type]
    assert await redis_client.exists(KeyScheme(namespace).workers) == 0


@pytest.mark.parametrize("shard", [-1, SHARDS, "0", True])
async def test_holds_refuses_a_shard_outside_the_namespace(
    make_worker: Callable[[str], ShardLeases], shard: object
) -> None:
    with pytest.raises(InvalidInput, match="shard"):
        make_worker("w").holds(shard)  # type: ignore[arg-type]


async def test_leases_are_kept_and_shared_on_a_redis_above_maxmemory(
    private_redis: Callable[..., RedisServer], lease_clock: TestClock
) -> None:
    client = aioredis.Redis.from_url(private_redis().url)
    try:
        for i in range(100):
            await client.set(f"filler:{i}", "x" * 10_000)
        keys = KeyScheme("full")
        a = ShardLeases(client, keys, "a", clock=lease_clock)
        b = ShardLeases(client, keys, "b", clock=lease_clock)
        assert await a.refresh() == frozenset(range(SHARDS))
        await make_full(client)
        with pytest.raises(OutOfMemoryError):
            await client.set("one-more", "y" * 1_000)

        assert await a.refresh() == frozenset(range(SHARDS))  # the flush that makes room keeps its shards
        assert await b.refresh() == frozenset()  # a newcomer registers on a full Redis too ...
        await a.refresh()
        await b.refresh()  # ... and gets its share
        check_balanced([a.held, b.held])
    finally:
        await client.aclose()


def test_every_key_of_a_refresh_is_in_the_namespace_slot() -> None:
    keys = KeyScheme("hs")
    slots = {key_slot(key.encode()) for key in [keys.workers, *map(keys.shard_lease, keys.all_shards())]}
    assert slots == {key_slot(b"hs")}


def test_default_worker_ids_are_unique_and_valid() -> None:
    first, second = default_worker_id(), default_worker_id()
    assert first != second
    assert 0 < len(first) <= c.MAX_WORKER_ID_LENGTH and "\x00" not in first
