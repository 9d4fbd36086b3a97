"""Redis Cluster or a single Redis, found from ``REDIS_URL`` alone: a one-off ``INFO cluster`` probe per connect.

Any node of a cluster will do; no extra setting names the mode. :func:`is_cluster_url` asks the server
(``cluster_enabled:1``); :func:`connect_cluster` then builds redis-py's
asyncio :class:`~redis.asyncio.cluster.RedisCluster`, which discovers the other masters and follows ``MOVED``.

:data:`RedisClient` is the one type the store and the write-behind accept: a single-node client (plain,
auto-pipelined or fakeredis) or a cluster client. The current key layout keeps every key of a namespace in one
slot (``{<namespace>}``), so every script and every pipeline of the store runs unchanged on a cluster; what a
cluster client cannot do is refused here, with the reason:

- auto-pipelining (:class:`ClusterAutoPipeline`) queues its calls on redis-py's non-transactional cluster
  pipeline through ``execute_command``, which groups them per node and sends each group on that node's own
  connection (the pipeline's ``evalsha()`` method is the one redis-py blocks, "Calling pipelined function evalsha
  is blocked when running redis in cluster mode"; the command itself is allowed);
- MULTI/EXEC pipelines (``transaction=True``) raise in redis-py 5.x's cluster pipeline: :func:`can_transact`
  tells callers to send the same commands without the transaction.

The probe is one blocking round trip when a client is built (``connect()`` is synchronous): once per store or
worker, not per call.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from hotstore.core.autopipeline import Coalescing

RedisClient: TypeAlias = aioredis.Redis | RedisCluster

PROBE_TIMEOUT_S = 5.0


def _probe(url: str, timeout: float) -> bool:
    """True when the server at ``url`` runs with ``cluster-enabled yes``; False when it does not or cannot say
    (an unreachable server is left to the real client, which reports it as usual). Bounded by ``timeout``."""
    try:
        with redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout) as probe:
            info: dict[str, Any] = probe.info("cluster")
    except (redis.exceptions.RedisError, OSError):
        return False
    return str(info.get("cluster_enabled", 0)) == "1"


def is_cluster_url(url: str, *, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether ``url`` names a node of a Redis Cluster. Asked anew at every connect (not cached: the same address
    may later be served by another server); the probe waits at most ``timeout`` seconds (the store's Redis
    timeout) for an answer."""
    return _probe(url, min(timeout, PROBE_TIMEOUT_S))


class ClusterClient(RedisCluster):
    """redis-py's asyncio cluster client that never re-sends a command after a connection error, a timeout or a
    cluster-down reply (a re-sent script could apply twice): the caller sees the error (StoreUnavailable), and
    the next command follows the refreshed topology. ``MOVED``/``ASK`` redirections are still followed: the
    redirected command did not run."""

    ERRORS_ALLOW_RETRY = ()  # type: ignore[assignment]  # no error class is retried: an empty tuple


class ClusterAutoPipeline(Coalescing, ClusterClient):  # type: ignore[misc]  # redis-py's own bases disagree
    """:class:`ClusterClient` with the adaptive auto-pipelining of :mod:`hotstore.core.autopipeline`: the calls of
    one loop turn go out as one pipeline per node."""

    async def aclose(self) -> None:
        await self.drain()
        await super().aclose()


def connect_cluster(url: str, *, autopipeline: bool = False, timeout: float | None = None) -> RedisCluster:
    """A :class:`ClusterClient` (``autopipeline``: a :class:`ClusterAutoPipeline`) from any node's URL, bytes
    replies. One attempt per command and pipeline (``cluster_error_retry_attempts=1`` is the pipeline's single
    attempt; the client's own retries are off through ``ERRORS_ALLOW_RETRY``), and no connection-level retry."""
    kind = ClusterAutoPipeline if autopipeline else ClusterClient
    client: RedisCluster = kind.from_url(url, decode_responses=False, cluster_error_retry_attempts=1,
                                         connection_error_retry_attempts=0, socket_timeout=timeout,
                                         socket_connect_timeout=timeout)
    return client


def is_cluster(client: RedisClient) -> bool:
    return isinstance(client, RedisCluster)


def can_transact(client: RedisClient) -> bool:
    """Whether ``client.pipeline(transaction=True)`` works: not on redis-py 5.x's cluster client."""
    return not is_cluster(client)
