"""Adaptive auto-pipelining: the commands that concurrent tasks issue in one event-loop turn go out as one pipeline.

On by default against a real Redis (``Settings.autopipeline``, ``HOTSTORE_AUTOPIPELINE=0`` turns it off). It is
adaptive: a call made while nothing else is waiting or in flight is sent at once, on its own, so a strictly
sequential bot pays no extra loop turn; only calls that find others waiting are queued and coalesced.

Like ioredis's ``enableAutoPipelining``: a hotstore call is one ``EVALSHA``; with 32 tasks in flight, the calls
that become ready together are sent in one write and their replies read in one pass, instead of 32 writes,
32 pool checkouts and 32 wake-ups. The pipeline is *not* a transaction: each script still runs atomically on its
own, so every invariant holds (a call is still one script; only the packet carrying it is shared). A ``NOSCRIPT``
reply fails only its own call, and redis-py's ``AsyncScript`` then loads the script and retries, as usual::

    redis = AutoPipelineRedis.from_url("redis://127.0.0.1:6379/0")
    store = await HotStore.open(settings, redis=redis)

Only commands in ``batched`` are pipelined (scripts and simple single-key commands); blocking, transaction,
pub/sub and connection-state commands go straight through. :class:`FastPackConnection` packs commands with
hiredis's C packer instead of redis-py's pure-Python one (the largest client cost of a script call with many
arguments, such as a whole-document save).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection, Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

_HiredisParser: type[Any] | None
NOT_ENOUGH_DATA: object  # what the hiredis reader's gets() returns while a reply is incomplete
try:  # redis-py's asyncio hiredis parser: the fast exchange reads its reader and stream directly
    from redis._parsers import hiredis as _redis_hiredis

    _HiredisParser, NOT_ENOUGH_DATA = _redis_hiredis._AsyncHiredisParser, _redis_hiredis.NOT_ENOUGH_DATA
except (ImportError, AttributeError):  # another redis-py layout: every batch takes redis-py's own reads
    _HiredisParser, NOT_ENOUGH_DATA = None, object()

_pack: Callable[[tuple[Any, ...]], bytes] | None
try:
    import hiredis

    _pack = hiredis.pack_command
except (ImportError, AttributeError):  # hiredis < 2.1 or absent: FastPackConnection falls back to redis-py's packer
    _pack = None

SCRIPT_COMMANDS = frozenset({"EVALSHA", "EVAL", "EVALSHA_RO", "EVAL_RO", "FCALL", "FCALL_RO"})
SIMPLE_COMMANDS = frozenset(
    {
        "GET", "SET", "EXISTS", "DEL", "UNLINK", "EXPIRE", "PEXPIRE", "TTL", "PTTL", "INCR", "INCRBY",
        "HGET", "HMGET", "HGETALL", "HSET", "HDEL", "HINCRBY", "HLEN",
        "ZADD", "ZINCRBY", "ZSCORE", "ZMSCORE", "ZRANK", "ZREVRANK", "ZRANGE", "ZREVRANGE", "ZCARD", "ZREM",
    }
)  # fmt: skip
DEFAULT_BATCHED = SCRIPT_COMMANDS | SIMPLE_COMMANDS
DEFAULT_MAX_BATCH = 256
DEFAULT_SPLIT = 2  # pipelines per loop turn when enough calls are queued
MIN_SPLIT_BATCH = 8  # never split below this many calls per pipeline
READ_SIZE = 65_536  # bytes asked of the socket per read (redis-py's default socket_read_size)
DRAIN_ABOVE = 65_536  # bytes left in the transport's write buffer above which a send waits for it to drain

_Pending = tuple[tuple[Any, ...], dict[str, Any], "asyncio.Future[Any]"]


class Coalescing:
    """The coalescing of :class:`AutoPipelineRedis`, for any redis-py asyncio client class it is mixed into (also
    the cluster client of :mod:`hotstore.core.cluster`, whose non-transactional pipeline groups the calls per
    node and sends each group on that node's own connection)."""

    def __init__(
        self,
        *args: Any,
        batched: Iterable[str] = DEFAULT_BATCHED,
        max_batch: int = DEFAULT_MAX_BATCH,
        split: int = DEFAULT_SPLIT,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.batched = frozenset(name.upper() for name in batched)
        # a client on one dedicated connection (redis-py's single_connection_client) is never pipelined
        self._single_connection = bool(getattr(self, "single_connection_client", False))
        self.max_batch = max(1, max_batch)
        self.split = max(1, split)
        self._queue: list[_Pending] = []
        self._flush_scheduled = False
        self._in_flight: set[asyncio.Task[None]] = set()
        self._busy = 0  # calls sent or queued and not yet answered
        self.batches_sent = 0  # pipelines sent so far (commands per pipeline = calls / batches_sent)
        self.direct_sent = 0  # calls sent at once because nothing else was waiting
        self.pipelined_calls = 0  # calls sent inside pipelines

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        name = args[0]
        batched = self.batched
        if name not in batched and isinstance(name, str):  # the commands of hotstore and redis-py come upper case
            name = name.upper()
        if name not in batched or self._single_connection:
            return await super().execute_command(*args, **options)  # type: ignore[misc]
        self._busy += 1
        try:
            if self._busy == 1:  # nothing else waiting or in flight: no one to share a packet with, send now
                self.direct_sent += 1
                return await self._send_now(args, options)
            loop = asyncio.get_running_loop()
            future: asyncio.Future[Any] = loop.create_future()
            self._queue.append((args, options, future))
            if not self._flush_scheduled:
                self._flush_scheduled = True
                loop.call_soon(self._flush)  # runs after every task made ready in this turn had its go
            return await future
        finally:
            self._busy -= 1

    def _flush(self) -> None:
        self._flush_scheduled = False
        queue, self._queue = self._queue, []
        # Several smaller pipelines instead of one: Redis runs the first while the client is still sending the
        # next, and the client handles the first replies while Redis runs the rest (client and server overlap).
        chunks = max(-(-len(queue) // self.max_batch), min(self.split, len(queue) // MIN_SPLIT_BATCH))
        size = -(-len(queue) // max(1, chunks))
        for start in range(0, len(queue), size):
            task = asyncio.get_running_loop().create_task(self._send(queue[start : start + size]))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _send_now(self, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        """One call sent on its own (nothing to coalesce with): the client's own ``execute_command``."""
        return await super().execute_command(*args, **options)  # type: ignore[misc]

    async def _send(self, batch: list[_Pending]) -> None:
        live = [item for item in batch if not item[2].done()]  # a caller cancelled before the send: skip it
        if not live:
            return
        try:
            await self._send_batch(live)
            self.batches_sent += 1
            self.pipelined_calls += len(live)
        except BaseException as exc:  # the connection failed: every call of the batch not yet answered sees it
            for _, _, future in live:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else ConnectionError(repr(exc)))
            if not isinstance(exc, Exception):
                raise

    async def _send_batch(self, live: list[_Pending]) -> None:
        """Send ``live`` as one non-transactional pipeline and answer each call's future with its own reply or
        error reply. Raises when the connection failed (the calls not yet answered get that error)."""
        async with self.pipeline(transaction=False) as pipe:  # type: ignore[attr-defined]
            for args, options, _ in live:
                pipe.execute_command(*args, **options)
            replies = await pipe.execute(raise_on_error=False)
        for (_, _, future), reply in zip(live, replies, strict=True):
            _answer(future, reply)

    async def drain(self) -> None:
        """Wait until every queued and in-flight batch has been answered."""
        while self._queue or self._flush_scheduled or self._in_flight:
            if self._in_flight:
                await asyncio.gather(*self._in_flight, return_exceptions=True)
            else:
                await asyncio.sleep(0)



def _answer(future: asyncio.Future[Any], reply: Any) -> None:
    if future.done():  # the caller was cancelled meanwhile
        return
    if isinstance(reply, Exception):
        future.set_exception(reply)
    else:
        future.set_result(reply)


class AutoPipelineRedis(Coalescing, aioredis.Redis):  # type: ignore[misc]  # redis-py's own bases disagree on command_info
    """A redis-py asyncio client that coalesces the batched commands of one loop turn into one pipeline.

    A batch does not go through redis-py's ``Pipeline`` object (its command stack, script bookkeeping, reset and
    watch state cost more Python per call than the call itself): it takes one pooled connection, packs every
    command of the batch in one ``pack_commands`` call, sends them in one write and reads the replies in order.
    Each future is answered as soon as its reply is read; an error reply (``NOSCRIPT``, a script's
    ``error_reply``) fails only its own call. A connection error or timeout closes the connection (its stream is
    no longer in step) and fails the calls whose replies were not read yet; nothing is re-sent.

    On a :class:`FastPackConnection` with redis-py's hiredis parser (hotstore's own client), the exchange skips
    three per-call costs of redis-py's generic path, with the same outcomes:

    - checking a connection out of the pool, redis-py polls its socket with a zero timeout (an extra loop turn);
      here an idle connection is taken when its stream is open and holds no unread byte (asyncio reads an idle
      socket as soon as data or EOF arrives, so a closed or out-of-step connection shows there); any other
      connection goes through the pool's own check, which reconnects it;
    - sending with a socket timeout, redis-py runs ``wait_for`` (a task per send); here the packet is written to
      the transport, and only a send that leaves more than :data:`DRAIN_ABOVE` bytes buffered waits to drain,
      bounded by the socket timeout;
    - reading, redis-py enters a timeout context per reply; here replies already received are taken straight
      from the hiredis reader, and the socket timeout bounds each wait for more bytes (as redis-py's bounds each
      read). Replies with a callback or options (``ZADD``'s score parsing, say) still go through the client's
      own ``parse_response``.

    A single call with nothing to coalesce with takes the same exchange, inline (no task, no queue).
    """

    async def _send_now(self, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._send_batch([(args, options, future)])
        return future.result()

    async def _send_batch(self, live: list[_Pending]) -> None:
        pool = self.connection_pool
        connection: Connection = pool.get_available_connection()  # type: ignore[no-untyped-call]
        try:
            wire = _clean_wire(connection)
            if wire is None:  # new, closed, or holding unread data: the pool's own check (re)connects it
                await pool.ensure_connection(connection)
                wire = _clean_wire(connection)
            packet = connection.pack_commands([args for args, _, _ in live])
            if wire is None or not isinstance(connection, FastPackConnection):
                await connection.send_packed_command(packet, check_health=False)
                await self._read_generic(connection, live)
            else:
                await self._exchange(connection, wire, packet, live)
        except BaseException:
            await connection.disconnect()
            raise
        finally:
            await pool.release(connection)

    async def _read_generic(self, connection: Connection, live: list[_Pending]) -> None:
        """Every reply through redis-py's reads (reply callbacks, options, timeouts, its parser)."""
        callbacks = self.response_callbacks
        for args, options, future in live:
            parse = bool(options) or args[0] in callbacks
            _answer(future, await self._read_one(connection, args[0], options, parse=parse))

    async def _read_one(self, connection: Connection, name: Any, options: dict[str, Any], *, parse: bool) -> Any:
        """One reply read by redis-py: through ``parse_response`` (``parse``: reply callbacks or options), else as
        read (a script's reply, which has no callback). An error reply is returned: it is this call's own, and the
        stream is still in step."""
        try:
            if parse:
                return await self.parse_response(connection, name, **options)
            return await connection.read_response()
        except ResponseError as exc:
            return exc

    async def _exchange(self, connection: FastPackConnection, wire: tuple[Any, asyncio.StreamReader,
                        asyncio.StreamWriter], packet: list[bytes], live: list[_Pending]) -> None:
        reader, stream, writer = wire
        timeout = connection.socket_timeout
        connection.write_packed(packet)
        if writer.transport.get_write_buffer_size() > DRAIN_ABOVE:
            try:
                async with asyncio.timeout(timeout):
                    await writer.drain()
            except TimeoutError:
                raise RedisTimeoutError("Timeout writing to socket") from None
            except OSError as exc:
                raise RedisConnectionError(f"Error while writing to socket: {exc}") from exc
        callbacks, gets = self.response_callbacks, reader.gets
        for args, options, future in live:
            if options or args[0] in callbacks:  # reply callbacks or options: redis-py's own parsing
                _answer(future, await self._read_one(connection, args[0], options, parse=True))
                continue
            reply = gets()
            while reply is NOT_ENOUGH_DATA:
                await _fill(stream, reader, timeout, connection)
                reply = gets()
            if isinstance(reply, RedisConnectionError):  # as redis-py's parser: the connection is unusable
                raise reply
            _answer(future, reply)  # an error reply (ResponseError) fails only its own call

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await self.drain()
        await super().aclose(close_connection_pool)


def _clean_wire(connection: AbstractConnection) -> tuple[Any, asyncio.StreamReader, asyncio.StreamWriter] | None:
    """``(hiredis reader, stream reader, stream writer)`` of a connected connection with nothing unread, or None
    (not connected, not on the hiredis parser, closing, at EOF, or holding bytes or a reply not read yet)."""
    parser: Any = getattr(connection, "_parser", None)
    if _HiredisParser is None or type(parser) is not _HiredisParser or not getattr(parser, "_connected", False):
        return None
    reader, stream, writer = parser._reader, parser._stream, connection._writer
    if type(stream) is not asyncio.StreamReader or type(writer) is not asyncio.StreamWriter:
        return None  # not asyncio's own streams (a test double's): the generic path
    if writer.transport.is_closing():
        return None
    if stream.at_eof() or stream.exception() is not None or len(stream._buffer) or reader.has_data():  # type: ignore[attr-defined]
        return None
    return reader, stream, writer


async def _fill(stream: asyncio.StreamReader, reader: Any, seconds: float | None, connection: Connection) -> None:
    """Feed the hiredis ``reader`` the next bytes of ``stream``, waiting at most ``seconds`` for them."""
    try:
        if seconds is None:
            data = await stream.read(READ_SIZE)
        else:
            async with asyncio.timeout(seconds):
                data = await stream.read(READ_SIZE)
    except TimeoutError:
        raise RedisTimeoutError(f"Timeout reading from {connection.host}:{connection.port}") from None
    except OSError as exc:
        raise RedisConnectionError(f"Error while reading from {connection.host}:{connection.port}: {exc}") from exc
    if not data:
        raise RedisConnectionError("Connection closed by server.")
    reader.feed(data)


class FastPackConnection(Connection):
    """A connection that packs commands with hiredis's C packer (redis-py's Python packer otherwise)."""

    def pack_command(self, *args: Any) -> list[bytes]:
        if _pack is None or self.encoder.encoding.lower().replace("-", "") != "utf8":
            return list(super().pack_command(*args))
        if isinstance(args[0], str) and " " in args[0]:  # "SCRIPT LOAD" is sent as two words
            args = (*args[0].split(), *args[1:])
        try:
            return [_pack(args)]
        except TypeError:  # a value hiredis cannot pack: let redis-py's encoder raise its own error
            return list(super().pack_command(*args))

    def pack_commands(self, commands: Iterable[Any]) -> list[bytes]:
        return [b"".join(part for args in commands for part in self.pack_command(*args))]

    def write_packed(self, packet: list[bytes]) -> None:
        """Hand a packed packet to the transport (the auto-pipeliner's send; a subclass may count here)."""
        assert self._writer is not None
        self._writer.writelines(packet)


def connect_autopipelined(url: str, *, fast_pack: bool = True, **kwargs: Any) -> AutoPipelineRedis:
    """An :class:`AutoPipelineRedis` on ``url`` (bytes replies, like hotstore's own client)."""
    if fast_pack:
        kwargs.setdefault("connection_class", FastPackConnection)
    pool = aioredis.ConnectionPool.from_url(url, **kwargs)
    return AutoPipelineRedis(connection_pool=pool)
