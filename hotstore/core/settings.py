"""Configuration, from the environment or from keyword arguments (CLI flags map onto the same fields)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from hotstore.core.errors import InvalidInput
from hotstore.core.keys import DEFAULT_NAMESPACE, KeyScheme, check_bot_name
from persistence.engine import (
    DEFAULT_SQL_MAX_OVERFLOW,
    DEFAULT_SQL_POOL_SIZE,
    DEFAULT_SQL_TIMEOUT_S,
    DEFAULT_SQLITE_URL,
    ENV_SQL_MAX_OVERFLOW,
    ENV_SQL_POOL_SIZE,
    ENV_SQL_TIMEOUT,
    database_url,
)

__all__ = [
    "DEFAULT_SQL_MAX_OVERFLOW",
    "DEFAULT_SQL_POOL_SIZE",
    "DEFAULT_SQL_TIMEOUT_S",
    "ENV_SQL_MAX_OVERFLOW",
    "ENV_SQL_POOL_SIZE",
    "ENV_SQL_TIMEOUT",
    "Settings",
]

# Environment variables (each also has a `hotstore` CLI flag).
ENV_DATABASE_URL = "DATABASE_URL"
ENV_REDIS_URL = "REDIS_URL"
ENV_BOT_NAME = "BOT_NAME"
ENV_NAMESPACE = "HOTSTORE_NAMESPACE"
ENV_FLUSH_INTERVAL = "HOTSTORE_FLUSH_INTERVAL"
ENV_FLUSH_BATCH = "HOTSTORE_FLUSH_BATCH"
ENV_IDLE_TTL = "HOTSTORE_IDLE_TTL"
ENV_MAX_DOCUMENT_BYTES = "HOTSTORE_MAX_DOCUMENT_BYTES"
ENV_WEEKLY_BOARD_WEEKS = "HOTSTORE_WEEKLY_BOARD_WEEKS"
ENV_ACTIVITY_RESOLUTION = "HOTSTORE_ACTIVITY_RESOLUTION"
ENV_ARQ_REDIS_URL = "HOTSTORE_ARQ_REDIS_URL"
ENV_AUTOPIPELINE = "HOTSTORE_AUTOPIPELINE"  # "0": no coalescing of concurrent calls into pipelines
ENV_EMBEDDED_REDIS = "HOTSTORE_EMBEDDED_REDIS"  # without REDIS_URL: auto | server | fakeredis
ENV_EMBEDDED_WORKER = "HOTSTORE_EMBEDDED_WORKER"  # "0": init_db() starts no in-process flusher
ENV_METRICS_PORT = "HOTSTORE_METRICS_PORT"  # a worker serves /metrics and /healthz on this port (unset: none)
ENV_METRICS_HOST = "HOTSTORE_METRICS_HOST"  # the address it listens on (default: every interface)
ENV_HEALTH_MAX_AGE = "HOTSTORE_HEALTH_MAX_AGE"  # /healthz answers 503 when the last good flush is older (s)
ENV_REDIS_TIMEOUT = "HOTSTORE_REDIS_TIMEOUT"  # seconds: connect and reply timeout of the store's Redis clients
ENV_BOARD_REPAIR_INTERVAL = "HOTSTORE_BOARD_REPAIR_INTERVAL"  # seconds between board repairs of the workers (0: off)
# The SQL connection settings (HOTSTORE_SQL_TIMEOUT, HOTSTORE_SQL_POOL_SIZE, HOTSTORE_SQL_MAX_OVERFLOW) are named in
# persistence.engine, which reads them itself for engines opened without Settings (a v4 bot's init_db), and
# imported above.

# Defaults.
DEFAULT_BOT_NAME = "spin_bot"  # v4's default
DEFAULT_FLUSH_INTERVAL_S = 1.0
DEFAULT_FLUSH_BATCH = 500
DEFAULT_IDLE_TTL_S = 24 * 3600
DEFAULT_MAX_DOCUMENT_BYTES = 256 * 1024
DEFAULT_WEEKLY_BOARD_WEEKS = 5
DEFAULT_ACTIVITY_RESOLUTION_S = 60
DEFAULT_METRICS_HOST = "0.0.0.0"  # a container's port is reached from outside it
DEFAULT_HEALTH_MAX_AGE_S = 60.0  # as ``hotstore status --check --max-age``
EMBEDDED_REDIS_MODES = ("auto", "server", "fakeredis")  # auto: a private redis-server when on the PATH
DEFAULT_REDIS_TIMEOUT_S = 5.0
DEFAULT_BOARD_REPAIR_INTERVAL_S = 3600.0


def normalize_database_url(url: str | None) -> str:
    """Give a plain URL its async driver (see ``persistence.database_url``); ``None`` means the SQLite default."""
    return database_url(url or "")


@dataclass(frozen=True)
class Settings:
    """Everything hotstore reads from the environment. ``redis_url=None`` means in-process fakeredis."""

    database_url: str = DEFAULT_SQLITE_URL
    redis_url: str | None = None
    bot_name: str = DEFAULT_BOT_NAME
    namespace: str = DEFAULT_NAMESPACE
    flush_interval: float = DEFAULT_FLUSH_INTERVAL_S
    flush_batch: int = DEFAULT_FLUSH_BATCH
    idle_ttl: int = DEFAULT_IDLE_TTL_S
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES
    weekly_board_weeks: int = DEFAULT_WEEKLY_BOARD_WEEKS
    activity_resolution: int = DEFAULT_ACTIVITY_RESOLUTION_S
    arq_redis_url: str | None = None
    autopipeline: bool = True  # adaptive, real Redis only (never on fakeredis): see hotstore.core.autopipeline
    # without redis_url: see hotstore.core.embedded_redis; the default follows HOTSTORE_EMBEDDED_REDIS (else auto)
    embedded_redis_mode: str = field(default_factory=lambda: os.environ.get(ENV_EMBEDDED_REDIS) or "auto")
    redis_timeout: float = DEFAULT_REDIS_TIMEOUT_S
    sql_timeout: float = DEFAULT_SQL_TIMEOUT_S
    sql_pool_size: int = DEFAULT_SQL_POOL_SIZE
    sql_max_overflow: int = DEFAULT_SQL_MAX_OVERFLOW
    board_repair_interval: float = DEFAULT_BOARD_REPAIR_INTERVAL_S  # hotstore.writebehind.board_repair; 0 = off
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "database_url", normalize_database_url(self.database_url))
        check_bot_name(self.bot_name)
        KeyScheme(self.namespace)
        positive = {
            "flush_interval": self.flush_interval,
            "flush_batch": self.flush_batch,
            "idle_ttl": self.idle_ttl,
            "max_document_bytes": self.max_document_bytes,
            "weekly_board_weeks": self.weekly_board_weeks,
            "redis_timeout": self.redis_timeout,
            "sql_timeout": self.sql_timeout,
            "sql_pool_size": self.sql_pool_size,
        }
        for name, value in positive.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise InvalidInput(f"{name} must be a positive number: {value!r}")
        if self.embedded_redis_mode not in EMBEDDED_REDIS_MODES:
            raise InvalidInput(f"{ENV_EMBEDDED_REDIS} must be one of {', '.join(EMBEDDED_REDIS_MODES)}: "
                               f"{self.embedded_redis_mode!r}")
        for name, count in (("activity_resolution", self.activity_resolution),
                            ("sql_max_overflow", self.sql_max_overflow)):
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise InvalidInput(f"{name} must be an int >= 0: {count!r}")
        repair = self.board_repair_interval
        if isinstance(repair, bool) or not isinstance(repair, (int, float)) or not 0 <= repair < float("inf"):
            raise InvalidInput(f"board_repair_interval must be a number of seconds >= 0 (0: off): {repair!r}")
        if isinstance(self.sql_pool_size, bool) or not isinstance(self.sql_pool_size, int):
            raise InvalidInput(f"sql_pool_size must be an int: {self.sql_pool_size!r}")

    def engine_options(self) -> dict[str, Any]:
        """Keyword arguments of ``persistence.engine.create_engine`` for these settings (timeout, pool)."""
        return {"timeout": self.sql_timeout, "pool_size": self.sql_pool_size, "max_overflow": self.sql_max_overflow}

    @property
    def keys(self) -> KeyScheme:
        return KeyScheme(self.namespace)

    @property
    def embedded_redis(self) -> bool:
        return not self.redis_url

    @property
    def embedded_backend(self) -> str:
        """Without ``redis_url``: ``"server"`` (a private redis-server child) or ``"fakeredis"`` (in-process)."""
        if self.embedded_redis_mode != "auto":
            return self.embedded_redis_mode
        return "server" if shutil.which("redis-server") else "fakeredis"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``DATABASE_URL``, ``REDIS_URL``, ``BOT_NAME``, ``HOTSTORE_*``; non-None ``overrides`` win."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        spec: list[tuple[str, str, type]] = [
            ("database_url", ENV_DATABASE_URL, str),
            ("redis_url", ENV_REDIS_URL, str),
            ("bot_name", ENV_BOT_NAME, str),
            ("namespace", ENV_NAMESPACE, str),
            ("flush_interval", ENV_FLUSH_INTERVAL, float),
            ("flush_batch", ENV_FLUSH_BATCH, int),
            ("idle_ttl", ENV_IDLE_TTL, int),
            ("max_document_bytes", ENV_MAX_DOCUMENT_BYTES, int),
            ("weekly_board_weeks", ENV_WEEKLY_BOARD_WEEKS, int),
            ("activity_resolution", ENV_ACTIVITY_RESOLUTION, int),
            ("arq_redis_url", ENV_ARQ_REDIS_URL, str),
            ("embedded_redis_mode", ENV_EMBEDDED_REDIS, str),
            ("redis_timeout", ENV_REDIS_TIMEOUT, float),
            ("sql_timeout", ENV_SQL_TIMEOUT, float),
            ("sql_pool_size", ENV_SQL_POOL_SIZE, int),
            ("sql_max_overflow", ENV_SQL_MAX_OVERFLOW, int),
            ("board_repair_interval", ENV_BOARD_REPAIR_INTERVAL, float),
        ]
        for name, var, kind in spec:
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            try:
                values[name] = kind(raw)
            except ValueError as exc:
                raise InvalidInput(f"{var} must be {kind.__name__}: {raw!r}") from exc
        flag = env.get(ENV_AUTOPIPELINE, "").strip().lower()
        if flag:
            values["autopipeline"] = flag in ("1", "true", "yes", "on")
        known = {f.name for f in fields(cls)}
        for name, value in overrides.items():
            if name not in known:
                raise InvalidInput(f"unknown setting {name!r}")
            if value is not None:
                values[name] = value
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed."""
        return replace(self, **changes)
