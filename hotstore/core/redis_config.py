"""The Redis server's configuration as hotstore sees it: eviction policy, memory, persistence.

hotstore keeps acknowledged writes in Redis until the write-behind has copied them to SQL (a *dirty* entity has no
TTL). A ``maxmemory-policy`` of ``allkeys-*`` lets Redis evict any key, dirty ones included, so acknowledged data
would vanish without an error: a store and a worker refuse to start on it (:func:`check_redis_config` raises
:class:`UnsafeRedisConfig`). ``noeviction`` and ``volatile-*`` are safe: only keys with a TTL can be evicted, and
hotstore gives a TTL only to what SQL already holds (clean idle entities) or what may vanish early (leases).

The policy is read with ``CONFIG GET``; where CONFIG is renamed or refused (managed Redis), from ``INFO memory``;
if neither answers, a warning is logged once and nothing is refused::

    config = await check_redis_config(redis)      # raises UnsafeRedisConfig on allkeys-lru
    print(config.maxmemory_policy, config.persistence)
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import fakeredis
from redis.exceptions import ResponseError

from hotstore.core.cluster import RedisClient
from hotstore.core.errors import StoreUnavailable, UnsafeRedisConfig
from hotstore.core.redis_client import reachable

log = logging.getLogger("hotstore.redis")

UNSAFE_POLICY_PREFIX = "allkeys-"
SAFE_POLICIES = "noeviction or volatile-lru (volatile-lfu, volatile-ttl, volatile-random)"
_warned_unknown = False


@dataclass(frozen=True)
class RedisConfig:
    """What Redis reports: ``None`` where it would not say (the embedded fakeredis says nothing)."""

    maxmemory_policy: str | None = None
    used_memory: int | None = None
    maxmemory: int | None = None  # 0: no limit
    persistence: str | None = None  # "aof", "rdb", "none"; None when unknown

    @property
    def unsafe(self) -> bool:
        """True when the policy can evict keys without a TTL, i.e. dirty entities."""
        return self.maxmemory_policy is not None and self.maxmemory_policy.startswith(UNSAFE_POLICY_PREFIX)

    @property
    def memory_fraction(self) -> float | None:
        """used_memory / maxmemory, or None when there is no limit (or it is unknown)."""
        if not self.maxmemory or self.used_memory is None:
            return None
        return self.used_memory / self.maxmemory

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def unsafe_policy_message(policy: str) -> str:
    return (
        f"Redis maxmemory-policy is {policy}: it can evict entities not yet written to SQL, losing acknowledged "
        f"data. Set a safe policy: CONFIG SET maxmemory-policy noeviction (or volatile-lru), and the same in "
        f"redis.conf (maxmemory-policy noeviction); safe policies: {SAFE_POLICIES}"
    )


def is_embedded(redis: RedisClient) -> bool:
    """The in-process fakeredis: it has no CONFIG or INFO, and no eviction."""
    return isinstance(redis, fakeredis.FakeAsyncRedis)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def _config_get(redis: RedisClient, name: str) -> str | None:
    try:
        # one word: a cluster client routes by command name ("CONFIG GET" goes to one node; all nodes of a
        # hotstore cluster are meant to share one configuration)
        reply = await redis.execute_command("CONFIG GET", name)  # type: ignore[no-untyped-call,unused-ignore]
    except ResponseError:  # CONFIG renamed or refused (managed Redis)
        return None
    if isinstance(reply, dict):
        values = {_text(k): _text(v) for k, v in reply.items()}
    else:
        items = [_text(item) for item in reply]
        values = dict(zip(items[::2], items[1::2], strict=False))
    return values.get(name)


async def _info(redis: RedisClient, section: str) -> dict[str, Any]:
    try:
        info: dict[str, Any] = await redis.info(section)
    except ResponseError:
        return {}
    return info


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _persistence(info: dict[str, Any], save: str | None) -> str | None:
    if str(info.get("aof_enabled", "")) == "1":
        return "aof"
    if save is None:
        return None  # CONFIG refused: INFO alone does not say whether RDB snapshots are configured
    return "rdb" if save.strip() else "none"


async def read_redis_config(redis: RedisClient) -> RedisConfig:
    """The policy, memory use and persistence mode of the server behind ``redis`` (all None on fakeredis).

    Raises :class:`StoreUnavailable` when Redis cannot be reached."""
    if is_embedded(redis):
        return RedisConfig()
    async with reachable():
        memory = await _info(redis, "memory")
        persistence = await _info(redis, "persistence")
        policy = await _config_get(redis, "maxmemory-policy")
        save = await _config_get(redis, "save")
    if policy is None and "maxmemory_policy" in memory:
        policy = _text(memory["maxmemory_policy"])
    return RedisConfig(
        maxmemory_policy=policy,
        used_memory=_int_or_none(memory.get("used_memory")),
        maxmemory=_int_or_none(memory.get("maxmemory")),
        persistence=_persistence(persistence, save),
    )


async def check_redis_config(redis: RedisClient) -> RedisConfig:
    """Read the configuration and refuse an evicting policy (:class:`UnsafeRedisConfig`, naming the setting and
    the fix). An unknown policy on a real server logs one warning per process and is not refused; an unreachable
    Redis logs a warning and is not refused either (its calls raise StoreUnavailable)."""
    global _warned_unknown
    try:
        config = await read_redis_config(redis)
    except StoreUnavailable as exc:  # a store may open while Redis is down: its calls then raise StoreUnavailable
        log.warning("cannot check the Redis configuration now (%s); it is checked again on the next start", exc)
        return RedisConfig()
    if config.unsafe:
        assert config.maxmemory_policy is not None
        raise UnsafeRedisConfig(unsafe_policy_message(config.maxmemory_policy))
    if config.maxmemory_policy is None and not is_embedded(redis) and not _warned_unknown:
        _warned_unknown = True
        log.warning("cannot read Redis maxmemory-policy (CONFIG and INFO refused): make sure it is noeviction or "
                    "volatile-*, an allkeys-* policy loses acknowledged data")
    return config
