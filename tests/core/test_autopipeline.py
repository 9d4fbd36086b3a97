"""The auto-pipelined client: calls of one loop turn share one pipeline, each call keeps its own reply and error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis.asyncio as aioredis
from fakeredis.aioredis import FakeAsyncRedisConnection
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from hotstore.compat import DatabaseService
from hotstore.core import autopipeline
from hotstore.core.autopipeline import AutoPipelineRedis, FastPackConnection, connect_autopipelined
from hotstore.core.errors import StoreUnavailable
from hotstore.core.redis_client import connect
from hotstore.core.settings import Settings
from hotstore.core.store import HotStore
from persistence.engine import create_engine
from tests.support.faults import TcpProxy, blackhole
from tests.support.servers import REDIS_ENV, real_server_url

INCR = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
FAIL_ON_NEGATIVE = "if tonumber(ARGV[1]) < 0 then return redis.error_reply('negative') end return ARGV[1]"


@pytest.fixture
async def client(redis_url: str | None, namespace: str) -> AsyncIterator[AutoPipelineRedis]:
    if redis_url is None:
        pool = aioredis.ConnectionPool(connection_class=FakeAsyncRedisConnection, server=fakeredis.FakeServer())
        redis = AutoPipelineRedis(connection_pool=pool)
    else:
        redis = connect_autopipelined(redis_url)
    yield redis
    async for key in redis.scan_iter(match="{" + namespace + "[}:]*"):
        await redis.delete(key)
    await redis.aclose()


@pytest.mark.parametrize("split", [1, 2])
async def test_calls_of_one_loop_turn_share_split_pipelines(
    client: AutoPipelineRedis, namespace: str, split: int
) -> None:
    client.split = split
    script = client.register_script(INCR)
    await client.script_load(INCR)
    before = client.batches_sent
    replies = await asyncio.gather(*(script(keys=[f"{{{namespace}}}:n"], args=[1]) for _ in range(50)))
    assert sorted(replies) == list(range(1, 51))
    assert client.batches_sent - before == split


async def test_an_error_reply_fails_only_its_own_call(client: AutoPipelineRedis, namespace: str) -> None:
    script = client.register_script(FAIL_ON_NEGATIVE)
    await client.script_load(FAIL_ON_NEGATIVE)
    results = await asyncio.gather(*(script(args=[n]) for n in (1, -1, 2)), return_exceptions=True)
    assert results[0] == b"1" and results[2] == b"2"
    assert isinstance(results[1], ResponseError) and "negative" in str(results[1])


async def test_noscript_is_loaded_and_retried(client: AutoPipelineRedis, namespace: str) -> None:
    script = client.register_script(INCR)
    await client.script_flush()
    replies = await asyncio.gather(*(script(keys=[f"{{{namespace}}}:m"], args=[2]) for _ in range(5)))
    assert sorted(replies) == [2, 4, 6, 8, 10]


async def test_commands_outside_the_batched_set_go_straight_through(client: AutoPipelineRedis, namespace: str) -> None:
    key = f"{{{namespace}}}:list"
    await client.rpush(key, b"a", b"b")  # RPUSH is not batched
    async with client.pipeline(transaction=True) as pipe:
        pipe.lrange(key, 0, -1)
        pipe.llen(key)
        assert await pipe.execute() == [[b"a", b"b"], 2]
    assert client.batches_sent == 0


async def test_concurrent_xp_awards_through_the_store_give_exact_totals(
    client: AutoPipelineRedis, namespace: str, tmp_path: Path
) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/ap.db", namespace=namespace)
    async with await HotStore.open(settings, redis=client) as store:
        bot = store.bot("spin_bot")
        outcomes = await asyncio.gather(*(bot.add_xp(7, 10) for _ in range(100)))
        assert max(outcome.total_xp for outcome in outcomes) == 1000
        assert sorted(outcome.total_xp for outcome in outcomes) == list(range(10, 1001, 10))
        assert sum(outcome.leveled_up for outcome in outcomes) == 10  # levels 2..11, each crossed once
        assert await store.leaderboards.score(7) == 1000


async def test_the_v4_facade_calls_of_concurrent_messages_share_pipelines(
    client: AutoPipelineRedis, namespace: str, tmp_path: Path
) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/facade.db", namespace=namespace)
    async with await HotStore.open(settings, redis=client) as store:
        service = _BoundService("spin_bot", store)

        async def message(tg: int) -> None:
            state = await service.get_user_session(tg)
            await service.save_session(tg, {**state["session"], "chat_state": "busy"}, state["stats"])
            await service.add_xp_and_check_level_up(tg, 10)

        await asyncio.gather(*(message(tg) for tg in range(1, 33)))  # first contacts, scripts loaded
        batches, pipelined, direct = client.batches_sent, client.pipelined_calls, client.direct_sent
        await asyncio.gather(*(message(tg) for tg in range(1, 33)))
        calls = (client.pipelined_calls - pipelined) + (client.direct_sent - direct)
        assert calls == 3 * 32
        assert client.batches_sent - batches + client.direct_sent - direct < calls / 4  # far fewer packets
        assert (await service.get_user_session(5))["session"]["chat_state"] == "busy"


class _BoundService(DatabaseService):
    def __init__(self, bot_name: str, store: HotStore) -> None:
        super().__init__(bot_name)
        self._bound = store

    async def _store(self) -> HotStore:
        return self._bound


def test_fast_packing_matches_redis_py_byte_for_byte() -> None:
    commands = [("EVALSHA", "ab" * 20, 2, "{hs}:u:1", b"\x00\xffbin", 42, -7, 1.5, "тест"), ("SCRIPT LOAD", "return 1")]
    for args in commands:
        fast = b"".join(FastPackConnection().pack_command(*args))
        plain = b"".join(Connection().pack_command(*args))
        assert fast == plain


def test_autopipelining_is_on_by_default_and_switched_off_by_env() -> None:
    assert Settings.from_env({"HOTSTORE_AUTOPIPELINE": "1"}).autopipeline is True
    assert Settings.from_env({"HOTSTORE_AUTOPIPELINE": "0"}).autopipeline is False
    assert Settings.from_env({}).autopipeline is True


def test_the_embedded_fakeredis_is_never_autopipelined() -> None:
    assert not isinstance(connect(Settings(autopipeline=True)), AutoPipelineRedis)


class _Packets:
    """Counts the packets the client's connections send (one per command or per pipeline), by either way out:
    redis-py's ``send_packed_command`` or the auto-pipeliner's ``write_packed``."""

    def __init__(self, client: AutoPipelineRedis, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        kind = client.connection_pool.connection_class
        original = kind.send_packed_command

        async def counting(conn: Connection, command: object, check_health: bool = True) -> None:
            self.count += 1
            await original(conn, command, check_health)  # type: ignore[arg-type]

        monkeypatch.setattr(kind, "send_packed_command", counting)
        if issubclass(kind, FastPackConnection):  # the auto-pipeliner's own exchange writes its packets here
            written = kind.write_packed

            def counting_write(conn: FastPackConnection, packet: list[bytes]) -> None:
                self.count += 1
                written(conn, packet)

            monkeypatch.setattr(kind, "write_packed", counting_write)


async def test_a_lone_call_is_sent_at_once_without_a_pipeline(
    client: AutoPipelineRedis, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = client.register_script(INCR)
    await client.script_load(INCR)
    packets, batches = _Packets(client, monkeypatch), client.batches_sent
    assert await script(keys=[f"{{{namespace}}}:n"], args=[1]) == 1
    assert (packets.count, client.batches_sent - batches) == (1, 0)


async def test_sequential_calls_never_wait_for_a_pipeline(
    client: AutoPipelineRedis, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = client.register_script(INCR)
    await client.script_load(INCR)
    packets, batches, direct = _Packets(client, monkeypatch), client.batches_sent, client.direct_sent
    for _ in range(10):
        await script(keys=[f"{{{namespace}}}:n"], args=[1])
    assert (packets.count, client.batches_sent - batches, client.direct_sent - direct) == (10, 0, 10)


async def test_concurrent_calls_coalesce_into_one_pipeline(client: AutoPipelineRedis, namespace: str) -> None:
    client.split = 1
    script = client.register_script(INCR)
    await client.script_load(INCR)
    batches, direct = client.batches_sent, client.direct_sent
    replies = await asyncio.gather(*(script(keys=[f"{{{namespace}}}:n"], args=[1]) for _ in range(30)))
    assert sorted(replies) == list(range(1, 31))
    # the first call at once, the 29 that found it in flight in one pipeline
    assert (client.direct_sent - direct, client.batches_sent - batches) == (1, 1)


async def test_settings_give_an_autopipelined_client() -> None:
    redis = connect(Settings(redis_url="redis://127.0.0.1:1/0", autopipeline=True))  # not connected until used
    assert isinstance(redis, AutoPipelineRedis)
    await redis.aclose()


async def test_the_default_client_packs_with_hiredis_except_for_tls_and_sockets() -> None:
    redis = connect(Settings(redis_url="redis://127.0.0.1:1/0"))  # not connected until used
    assert redis.connection_pool.connection_class is FastPackConnection
    await redis.aclose()
    for url, kind in (("rediss://127.0.0.1:1/0", SSLConnection), ("unix:///tmp/none.sock", UnixDomainSocketConnection)):
        other = connect(Settings(redis_url=url))
        assert other.connection_pool.connection_class is kind
        await other.aclose()


async def test_a_batch_is_not_sent_through_a_redis_py_pipeline_object(
    client: AutoPipelineRedis, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = client.register_script(INCR)
    await client.script_load(INCR)

    def no_pipeline(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a batch built a redis-py Pipeline")

    monkeypatch.setattr(client, "pipeline", no_pipeline)
    batches = client.batches_sent
    replies = await asyncio.gather(*(script(keys=[f"{{{namespace}}}:n"], args=[1]) for _ in range(20)))
    assert sorted(replies) == list(range(1, 21))
    assert client.batches_sent > batches


class _CutAfter:
    """A hiredis reader that hands out ``replies`` replies, then aborts the connection's transport (the peer is
    gone: the next socket read sees EOF)."""

    def __init__(self, reader: Any, writer: asyncio.StreamWriter, replies: dict[str, int]) -> None:
        self.reader, self.writer, self.replies = reader, writer, replies

    def gets(self) -> Any:
        if self.replies["left"] <= 0:
            self.writer.transport.abort()
            return autopipeline.NOT_ENOUGH_DATA
        reply = self.reader.gets()
        if reply is not autopipeline.NOT_ENOUGH_DATA:
            self.replies["left"] -= 1
        return reply

    def feed(self, data: bytes) -> None:
        self.reader.feed(data)

    def has_data(self) -> bool:
        return bool(self.reader.has_data())


async def test_a_connection_lost_mid_batch_fails_only_the_calls_not_yet_answered(
    client: AutoPipelineRedis, namespace: str, monkeypatch: pytest.MonkeyPatch, redis_url: str | None
) -> None:
    client.split = 1
    key = f"{{{namespace}}}:n"
    await client.set(key, 0)
    original = autopipeline._clean_wire
    replies = {"left": 2}

    def cutting(conn: Connection) -> Any:
        wire = original(conn)
        return None if wire is None else (_CutAfter(wire[0], wire[2], replies), wire[1], wire[2])

    kind = client.connection_pool.connection_class
    original_read = kind.read_response

    async def failing_after_two(conn: Connection, *args: object, **kwargs: object) -> object:
        replies["left"] -= 1
        if replies["left"] < 0:
            raise RedisConnectionError("connection lost")
        return await original_read(conn, *args, **kwargs)  # type: ignore[arg-type]

    if redis_url is None:  # fakeredis: redis-py's generic reads
        monkeypatch.setattr(kind, "read_response", failing_after_two)
    else:  # a real Redis: the hiredis exchange (a connection opened meanwhile reads its handshake elsewhere)
        monkeypatch.setattr(autopipeline, "_clean_wire", cutting)
    batches = client.batches_sent
    # the first call goes at once (one reply); the other nine share one batch, of which one reply is read
    results = await asyncio.gather(*(client.incr(key) for _ in range(10)), return_exceptions=True)
    monkeypatch.setattr(autopipeline, "_clean_wire", original)
    monkeypatch.setattr(kind, "read_response", original_read)
    answered = [r for r in results if not isinstance(r, BaseException)]
    failed = [r for r in results if isinstance(r, BaseException)]
    assert sorted(answered) == [1, 2] and len(failed) == 8
    assert all(isinstance(error, RedisConnectionError) for error in failed)
    assert client.batches_sent == batches  # the failed batch is not counted as sent
    pool = client.connection_pool
    assert not pool._in_use_connections  # the connection went back to the pool (closed, reconnected on use)
    assert await client.incr(key) >= 3  # the client works on; the lost calls may or may not have run


async def test_a_connection_closed_while_idle_is_reopened_before_a_batch(
    client: AutoPipelineRedis, namespace: str, redis_url: str | None
) -> None:
    """An idle pooled connection whose peer went away (a Redis restart, an idle timeout) is not used as it is: its
    stream shows the EOF, and the pool's own check reconnects it. Here the server closes it (CLIENT KILL)."""
    if redis_url is None:
        pytest.skip("the server must close a real connection")
    key = f"{{{namespace}}}:n"
    assert await client.incr(key) == 1
    connection = client.connection_pool._available_connections[0]
    killer = aioredis.Redis.from_url(redis_url)
    try:
        killed = await killer.client_kill_filter(_id=int(await client.client_id()))
    finally:
        await killer.aclose()
    assert killed == 1
    for _ in range(50):  # the loop notices the EOF as soon as it reads the socket
        if autopipeline._clean_wire(connection) is None:
            break
        await asyncio.sleep(0.01)
    assert autopipeline._clean_wire(connection) is None
    assert await client.incr(key) == 2  # reconnected, not failed
    results = await asyncio.gather(*(client.incr(key) for _ in range(10)))
    assert sorted(results) == list(range(3, 13))


async def test_concurrent_calls_on_a_stalled_redis_all_raise_store_unavailable(namespace: str) -> None:
    async with blackhole() as port:
        settings = Settings(redis_url=f"redis://127.0.0.1:{port}/0", namespace=namespace, redis_timeout=0.5,
                            autopipeline=True)
        store = HotStore(settings, connect(settings), create_engine("sqlite+aiosqlite://"), owns_redis=True,
                         owns_engine=True)
        try:
            bot = store.bot("spin_bot")
            results = await asyncio.wait_for(
                asyncio.gather(*(bot.add_xp(tg, 5) for tg in range(1, 11)), return_exceptions=True), 60.0)
            assert all(isinstance(result, StoreUnavailable) for result in results), results
            assert isinstance(store.redis, AutoPipelineRedis) and store.redis.direct_sent == 1  # the rest queued
        finally:
            await store.close()


async def test_a_redis_that_stops_answering_mid_use_times_out_every_waiting_call(namespace: str) -> None:
    """Connections already open and taken by the hiredis exchange (not a connect that times out): the partition
    stalls replies after the store has been used, and every call, the lone one and the coalesced ones, ends in
    StoreUnavailable within the socket timeout; once healed, the store works on new connections."""
    target = real_server_url(REDIS_ENV, "Redis").rsplit("/", 1)[0].removeprefix("redis://")
    host, port = target.rsplit(":", 1)
    proxy = TcpProxy(host, int(port))
    await proxy.start()
    settings = Settings(redis_url=f"redis://127.0.0.1:{proxy.port}/0", namespace=namespace, redis_timeout=0.5,
                        autopipeline=True)
    store = HotStore(settings, connect(settings), create_engine("sqlite+aiosqlite://"), owns_redis=True,
                     owns_engine=True)
    try:
        assert isinstance(store.redis, AutoPipelineRedis)
        bot = store.bot("spin_bot")
        await store.redis.set(f"{{{namespace}}}:warm", 1)
        (idle,) = store.redis.connection_pool._available_connections
        assert autopipeline._clean_wire(idle) is not None  # the exchange's own path, not redis-py's
        proxy.partition()
        results = await asyncio.wait_for(
            asyncio.gather(bot.add_xp(1, 5), *(store.get_user(tg) for tg in range(2, 12)), return_exceptions=True),
            30.0)
        assert all(isinstance(result, StoreUnavailable) for result in results), results
        proxy.heal()
        assert await store.redis.incr(f"{{{namespace}}}:warm") == 2
        assert store.redis.connection_pool._in_use_connections == set()
    finally:
        await store.redis.delete(f"{{{namespace}}}:warm")
        await store.close()
        await proxy.stop()
