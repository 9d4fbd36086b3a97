"""Redis Cluster found from ``REDIS_URL`` alone (hotstore.core.cluster): any node will do, the store and the
write-behind run on redis-py's cluster client, and a restarted master is reached again without a new client.

These run on a local 3-master cluster that the test run starts (tests/support/cluster.py); they are skipped
without ``redis-server`` (a failure with CI=true)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from redis.crc import key_slot
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore import Settings, StoreUnavailable
from hotstore.core.cluster import ClusterAutoPipeline, ClusterClient, is_cluster_url
from hotstore.core.redis_client import connect
from hotstore.core.sessions import BotStore
from hotstore.core.store import HotStore
from hotstore.writebehind.flush import drain
from tests.support.cluster import LocalCluster
from tests.support.hot_entities import delete_namespace
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.cluster

TG = 1_000_000_007


@pytest.mark.parametrize("node", [0, 1, 2])
def test_any_node_of_a_cluster_is_found_to_be_a_cluster(redis_cluster: LocalCluster, node: int) -> None:
    assert is_cluster_url(redis_cluster.urls()[node])


def test_a_single_redis_is_not_a_cluster(private_redis: Callable[..., RedisServer]) -> None:
    server = private_redis()
    assert not is_cluster_url(server.url)


async def test_connect_gives_a_cluster_client_auto_pipelined_per_node(redis_cluster_url: str) -> None:
    client = connect(Settings(redis_url=redis_cluster_url))
    try:
        assert isinstance(client, ClusterAutoPipeline)
    finally:
        await client.aclose()


async def test_connect_without_auto_pipelining_gives_the_plain_cluster_client(redis_cluster_url: str) -> None:
    client = connect(Settings(redis_url=redis_cluster_url, autopipeline=False))
    try:
        assert isinstance(client, ClusterClient) and not isinstance(client, ClusterAutoPipeline)
    finally:
        await client.aclose()


async def test_concurrent_awards_on_the_cluster_share_pipelines_and_all_apply(
    redis_cluster_url: str, sqlite_engine: AsyncEngine, namespace: str
) -> None:
    settings = Settings(redis_url=redis_cluster_url, namespace=namespace,
                        database_url=sqlite_engine.url.render_as_string(hide_password=False))
    store = await HotStore.open(settings, engine=sqlite_engine)
    client = store.redis
    assert isinstance(client, ClusterAutoPipeline)
    try:
        users = range(TG, TG + 32)
        await asyncio.gather(*(store.bot("spin").get_session(tg) for tg in users))
        await asyncio.gather(*(store.bot("spin").add_xp(tg, 3) for tg in users for _ in range(4)))
        totals = [(await store.bot("spin").get_session(tg)).user.total_xp for tg in users]
        assert totals == [12] * 32
        assert client.batches_sent > 0 and client.pipelined_calls > client.batches_sent
    finally:
        await delete_namespace(store.redis, namespace)
        await store.close()


@pytest.mark.parametrize("node", [0, 1, 2])
async def test_a_store_opened_on_any_master_reads_back_what_it_wrote(
    redis_cluster: LocalCluster, sqlite_engine: AsyncEngine, namespace: str, node: int
) -> None:
    settings = Settings(redis_url=redis_cluster.urls()[node], namespace=namespace,
                        database_url=sqlite_engine.url.render_as_string(hide_password=False))
    store = await HotStore.open(settings, engine=sqlite_engine)
    try:
        await store.bot("spin").add_xp(TG, 40)
        assert (await store.bot("spin").get_session(TG)).user.total_xp == 40
        assert await store.leaderboards.rank(TG) == 1
    finally:
        await delete_namespace(store.redis, namespace)
        await store.close()


async def test_the_write_behind_flushes_a_cluster_store_to_sql(
    redis_cluster_url: str, sqlite_engine: AsyncEngine, namespace: str
) -> None:
    settings = Settings(redis_url=redis_cluster_url, namespace=namespace,
                        database_url=sqlite_engine.url.render_as_string(hide_password=False))
    store = await HotStore.open(settings, engine=sqlite_engine)
    try:
        for tg in range(TG, TG + 20):
            await store.bot("spin").add_xp(tg, 5)
        totals = await drain(store.redis, sqlite_engine, settings)
        assert totals.remaining == 0 and totals.rows >= 20
    finally:
        await delete_namespace(store.redis, namespace)
        await store.close()


async def test_a_restarted_master_is_reached_again_by_the_same_client(
    tmp_path: Path, sqlite_engine: AsyncEngine, namespace: str
) -> None:
    cluster = LocalCluster(tmp_path / "cluster")
    cluster.start()
    try:
        store = await HotStore.open(_settings(cluster.url, namespace, sqlite_engine), engine=sqlite_engine)
        try:
            await store.bot("spin").add_xp(TG, 1)
            owner = cluster.owner_of(key_slot(store.keys.user(TG).encode()))
            cluster.nodes[owner].stop()
            with pytest.raises(StoreUnavailable):
                await store.bot("spin").add_xp(TG, 1)
            cluster.nodes[owner].start()
            cluster.wait_ready()
            state = await store.bot("spin").get_session(TG)  # reloaded from SQL if the master lost it
            assert state.user.telegram_id == TG
        finally:
            await store.close()
    finally:
        cluster.stop()


async def test_a_master_restarting_mid_load_loses_no_acknowledged_award(
    tmp_path: Path, sqlite_engine: AsyncEngine, namespace: str, report_figures: Callable[[str], None]
) -> None:
    """Awards run while the master holding them restarts (AOF, fsync always): failures are StoreUnavailable, the
    same client carries on afterwards, and the total holds every acknowledged award (plus at most the failed
    ones, whose reply was lost after they ran)."""
    cluster = LocalCluster(tmp_path / "cluster", ("--appendonly", "yes", "--appendfsync", "always"))
    cluster.start()
    try:
        store = await HotStore.open(_settings(cluster.url, namespace, sqlite_engine), engine=sqlite_engine)
        try:
            bot = store.bot("spin")
            await bot.get_session(TG)
            owner = cluster.owner_of(key_slot(store.keys.user(TG).encode()))
            acked, failed = await _award_while(bot, lambda: cluster.restart(owner))
            total = (await bot.get_session(TG)).user.total_xp
            report_figures(f"awards acknowledged={acked} failed={failed} total={total}")
            assert acked <= total <= acked + failed
            assert acked > AWARDS_PER_PHASE  # the client came back after the restart
        finally:
            await store.close()
    finally:
        cluster.stop()


AWARDS_PER_PHASE = 30


async def _award_while(bot: BotStore, disrupt: Callable[[], None]) -> tuple[int, int]:
    """Award 1 XP to TG in phases: before, during (``disrupt`` runs in a thread) and after; returns the counts of
    acknowledged and failed awards."""
    acked = failed = 0

    async def phase(calls: int) -> None:
        nonlocal acked, failed
        for _ in range(calls):
            try:
                await bot.add_xp(TG, 1)
                acked += 1
            except StoreUnavailable:
                failed += 1
                await asyncio.sleep(0.05)

    await phase(AWARDS_PER_PHASE)
    disruption = asyncio.get_running_loop().run_in_executor(None, disrupt)
    while not disruption.done():
        await phase(1)
    await disruption
    await phase(AWARDS_PER_PHASE)
    return acked, failed


def _settings(url: str, namespace: str, engine: AsyncEngine) -> Settings:
    return Settings(redis_url=url, namespace=namespace, database_url=engine.url.render_as_string(hide_password=False))
