"""The Redis client a store uses: a real server from ``settings.redis_url``, or the embedded default.

The embedded default (no ``REDIS_URL``) is shared by every store of the process, so a bot, the compat facade and
an in-process worker see the same data: a private ``redis-server`` child when the binary is on the PATH
(:mod:`hotstore.core.embedded_redis`), else one in-process ``fakeredis.FakeServer`` (``HOTSTORE_EMBEDDED_REDIS``
chooses). Either is for development, the demo and tests: not shared between processes, persisting nothing, not
a production store.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import fakeredis
import redis.asyncio as aioredis
from redis.exceptions import ClusterDownError, MasterDownError, SlotNotCoveredError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from hotstore.core import embedded_redis
from hotstore.core.autopipeline import FastPackConnection, connect_autopipelined
from hotstore.core.cluster import RedisClient, connect_cluster, is_cluster_url
from hotstore.core.errors import StoreUnavailable
from hotstore.core.settings import Settings

_server: fakeredis.FakeServer | None = None
_server_lock = threading.Lock()

# Redis failures that mean "the store cannot be reached" (callers see StoreUnavailable). On a cluster: a master
# that restarted answers CLUSTERDOWN until it rejoined, a slot may be uncovered or mid-migration (TRYAGAIN).
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError, RedisTimeoutError, OSError, ClusterDownError, MasterDownError, SlotNotCoveredError,
    TryAgainError,
)


def embedded_server() -> fakeredis.FakeServer:
    """The process-wide fakeredis server behind every embedded store (created on first use)."""
    global _server
    with _server_lock:
        if _server is None:
            _server = fakeredis.FakeServer()
        return _server


def connect(settings: Settings) -> RedisClient:
    """A client for ``settings.redis_url``; ``None`` gives a client on the embedded default: the private
    redis-server (:func:`hotstore.core.embedded_redis.url`) or the in-process :func:`embedded_server`.

    Responses are bytes (``decode_responses=False``): hash values are codec-encoded binary.
    Commands are never retried by the client, since a re-sent script could apply twice.
    ``settings.autopipeline`` gives a :class:`hotstore.core.autopipeline.AutoPipelineRedis` (real Redis only).
    Commands are packed by hiredis's C packer (:class:`hotstore.core.autopipeline.FastPackConnection`: the same bytes
    as redis-py's Python packer, which it falls back to for anything hiredis refuses); ``rediss://`` and
    ``unix://`` URLs keep redis-py's TLS and socket connections.
    Connecting and every reply are bounded by ``settings.redis_timeout`` (``HOTSTORE_REDIS_TIMEOUT``): a stalled or
    partitioned server gives a timeout error (callers see :class:`StoreUnavailable`) instead of a hang.
    A URL naming a node of a Redis Cluster (any node) gives redis-py's asyncio ``RedisCluster``
    (:mod:`hotstore.core.cluster`; auto-pipelined per node with ``settings.autopipeline``).
    """
    url = settings.redis_url
    if url is None:
        if settings.embedded_backend == "fakeredis":
            client: aioredis.Redis = fakeredis.FakeAsyncRedis(server=embedded_server())
            return client
        url = embedded_redis.url()  # the private redis-server child, started on first use
    elif is_cluster_url(url, timeout=settings.redis_timeout):
        return connect_cluster(url, autopipeline=settings.autopipeline, timeout=settings.redis_timeout)
    timeout = settings.redis_timeout
    if settings.autopipeline:
        return connect_autopipelined(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    real: aioredis.Redis = aioredis.Redis.from_url(
        url, decode_responses=False, connection_class=FastPackConnection,
        socket_connect_timeout=timeout, socket_timeout=timeout)
    return real


@asynccontextmanager
async def reachable(what: str = "Redis") -> AsyncIterator[None]:
    """Turn connection and timeout errors raised inside the block into :class:`StoreUnavailable`."""
    try:
        yield
    except UNAVAILABLE_ERRORS as exc:
        raise StoreUnavailable(f"{what} unreachable: {exc}") from exc
