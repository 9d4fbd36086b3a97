"""The ``rich`` tables of ``hotstore status``, ``status --watch``, ``leaderboard`` and ``user``.

Each function takes what the command read (the same dicts its ``--json`` prints) and returns a renderable; none
reads a store, so the watch view and the tests render the same thing the commands print.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from hotstore.cli.output import NONE_SHOWN, ago, cell, iso_from_ms, iso_utc, size
from hotstore.core import constants as c
from hotstore.core.leaderboard import Entry
from hotstore.core.redis_config import UNSAFE_POLICY_PREFIX

DURABLE_SECTIONS = ("sessions", "badges", "subscriptions", "free_trainings", "payments", "recent_trainings")
_DOCUMENTS = ("session_data", "stats_data")
_ISO_TEXT = ("registration_date", "last_activity")  # v4's to_dict() gives these as ISO text

# ---------------------------------------------------------------- status


def _moment(epoch_ms: Any, now: float) -> str:
    if not isinstance(epoch_ms, int | float):
        return "never"
    return f"{iso_from_ms(epoch_ms)} ({ago(max(0.0, now - epoch_ms / 1000))} ago)"


def _memory(memory: Mapping[str, Any] | None) -> str:
    used, limit = (memory or {}).get("used_bytes"), (memory or {}).get("max_bytes")
    if used is None:
        return "unknown (no INFO)"
    if not limit:
        return f"{size(used)} (no maxmemory)"
    return f"{size(used)} of {size(limit)} ({100 * used / limit:.0f}%)"


def status_view(info: Mapping[str, Any], *, healthy: bool, reason: str, now: float | None = None,
                rows_per_s: float | None = None) -> RenderableType:
    """The status as one two-column table in sections: backlog, flush, failures, Redis, health."""
    now = time.time() if now is None else now
    metrics: Mapping[str, Any] = info.get("metrics") or {}
    table = Table(box=box.SIMPLE_HEAD, show_header=False, show_edge=False)
    table.add_column("", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_row("dirty users", cell(info.get("dirty_users")))
    table.add_row("dirty sessions", cell(info.get("dirty_sessions")))
    table.add_row("dirty bot documents", cell(info.get("dirty_documents")))
    oldest = info.get("oldest_dirty_age_s")
    table.add_row("oldest dirty", cell("nothing dirty" if oldest is None else ago(oldest)))
    table.add_section()
    flushed = f"{metrics.get(c.METRIC_ROWS_FLUSHED, 0)}"
    if rows_per_s is not None:
        flushed += f"  ({rows_per_s:.0f} rows/s)"
    table.add_row("rows flushed", cell(flushed))
    table.add_row("flushes", cell(metrics.get(c.METRIC_FLUSHES, 0)))
    table.add_row("last flush", cell(_moment(metrics.get(c.METRIC_LAST_FLUSH_AT), now)))
    table.add_row("last flush rows", cell(metrics.get(c.METRIC_LAST_FLUSH_ROWS, 0)))
    workers = info.get("flush_workers")
    if isinstance(workers, Mapping):
        shown = ", ".join(f"{worker} {count}" for worker, count in sorted(workers.items()))
        table.add_row("flush workers", cell(f"{len(workers)}" + (f" (shards held: {shown})" if shown else "")))
        table.add_row("shards unleased", cell(info.get("unleased_shards")))
    table.add_section()
    for label, name in (("failures", c.METRIC_FAILURES), ("refused rows", c.METRIC_REFUSED_ROWS),
                        ("version conflicts", c.METRIC_VERSION_CONFLICTS),
                        ("pressure evictions", c.METRIC_PRESSURE_EVICTIONS)):
        value = metrics.get(name, 0)
        table.add_row(label, cell(value, "bold red" if value else ""))
    waiting = info.get("refused_count")
    if isinstance(waiting, int):
        shown = "; ".join(f"{row.get('key')} ({row.get('error')})" for row in (info.get("refused_rows") or [])[:3])
        table.add_row("still refused", cell(f"{waiting}" + (f": {shown}" if shown else ""),
                                                   "bold red" if waiting else ""))
    table.add_row("last error", cell(metrics.get(c.METRIC_LAST_ERROR) or NONE_SHOWN))
    table.add_row("last error at", cell(_moment(metrics.get(c.METRIC_LAST_ERROR_AT), now)))
    table.add_section()
    table.add_row("redis memory", cell(_memory(info.get("redis_memory"))))
    redis = info.get("redis")
    if isinstance(redis, Mapping):
        policy = redis_line(redis)
        table.add_row("redis", cell(policy, "bold red" if "UNSAFE" in policy else ""))
    table.add_row("health", cell(f"{'healthy' if healthy else 'UNHEALTHY'}: {reason}",
                                 "green" if healthy else "bold red"))
    return _titled(f"hotstore status · namespace {info.get('namespace')}", table)


def redis_line(redis: Mapping[str, Any]) -> str:
    """``policy noeviction, memory 1.2 MiB of 64.0 MiB (2%), persistence aof`` (``?`` where Redis would not say)."""
    used, limit = redis.get("used_memory"), redis.get("maxmemory")
    memory = f"{_mib(used)} of {_mib(limit) if limit else 'no limit'}"
    if isinstance(used, int) and isinstance(limit, int) and limit > 0:
        memory += f" ({used / limit:.0%})"
    policy = redis.get("maxmemory_policy") or "?"
    if isinstance(policy, str) and policy.startswith(UNSAFE_POLICY_PREFIX):
        policy += " (UNSAFE: can evict unsaved data)"
    return f"policy {policy}, memory {memory}, persistence {redis.get('persistence') or '?'}"


def _mib(value: Any) -> str:
    return f"{value / 2**20:.1f} MiB" if isinstance(value, int) else "?"


# ---------------------------------------------------------------- leaderboard


def leaderboard_view(title: str, entries: Sequence[Entry], names: Sequence[str | None]) -> RenderableType:
    """Rank, Telegram id, username (when the user is hot), score."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("rank", justify="right", no_wrap=True)
    table.add_column("telegram id", justify="right", no_wrap=True)
    table.add_column("username", overflow="fold")
    table.add_column("score", justify="right", no_wrap=True)
    for entry, name in zip(entries, names, strict=True):
        table.add_row(cell(entry.rank), cell(entry.telegram_id), cell(name or ""), cell(entry.score))
    if not entries:
        table.add_row("", "", Text("(empty)", style="dim"), "")
    return _titled(title, table)


# ---------------------------------------------------------------- user


def _titled(title: str, table: Table) -> RenderableType:
    """A heading above the table (a table's own title would wrap at the table's width)."""
    return Group(Text(title, style="bold"), table)


def _pairs(title: str, pairs: Iterable[tuple[str, Any]]) -> RenderableType:
    table = Table(box=box.SIMPLE_HEAD, show_header=False, show_edge=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for name, value in pairs:
        table.add_row(Text(name), cell(value))
    return _titled(title, table)


def _iso_text(value: Any) -> Any:
    try:
        return iso_utc(datetime.fromisoformat(value), timespec="seconds")
    except (TypeError, ValueError):
        return value


def _position(position: Mapping[str, int] | None) -> str:
    return "not on the board" if position is None else f"rank {position['rank']}, score {position['score']}"


def _hot_views(hot: Mapping[str, Any]) -> list[RenderableType]:
    user = hot.get("user")
    if user is None:
        views: list[RenderableType] = [Text("hot (Redis): not in Redis (cold: loaded from SQL on the next call)")]
    else:
        shown_user = {k: _iso_text(v) if k in _ISO_TEXT else v for k, v in user.items() if k not in ("dirty", "ttl_s")}
        views = [_pairs("hot (Redis): user", [
            *shown_user.items(),
            ("state", "DIRTY (not yet in SQL)" if user.get("dirty") else "clean"),
            ("idle ttl", ago(user.get("ttl_s")) if user.get("ttl_s") is not None else "none"),
            ("global board", _position(hot.get("global_board"))),
        ])]
    for bot, session in (hot.get("sessions") or {}).items():
        views.append(_pairs(f"hot (Redis): session {bot}", [
            ("xp", session["xp"]), ("version", session["version"]),
            ("state", "DIRTY (not yet in SQL)" if session["dirty"] else "clean"),
            ("idle ttl", ago(session["ttl_s"]) if session["ttl_s"] is not None else "none"),
            ("bot board", _position(session["board"])),
        ]))
        views.append(_document(f"session_data ({bot})", session["session_data"]))
        views.append(_document(f"stats_data ({bot})", session["stats_data"]))
    return views


def _document(title: str, document: Mapping[str, Any]) -> RenderableType:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("key", style="bold", overflow="fold")
    table.add_column("value", overflow="fold")
    for key in sorted(document):
        table.add_row(Text(key), cell(document[key]))
    if not document:
        table.add_row(Text("(empty)", style="dim"), "")
    return _titled(title, table)


def _rows(title: str, rows: Sequence[Mapping[str, Any]]) -> RenderableType:
    if not rows:
        return Text(f"{title}: none")
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    columns = [name for name in rows[0] if name not in _DOCUMENTS]
    for name in columns:
        table.add_column(name.replace("_", " "), overflow="fold")
    for row in rows:
        table.add_row(*(cell(row.get(name)) for name in columns))
    return _titled(title, table)


def user_view(telegram_id: int, hot: Mapping[str, Any], durable: Mapping[str, Any]) -> RenderableType:
    """The hot state (user, sessions with their documents) above the durable rows, one table each."""
    parts: list[RenderableType] = [Text(f"user {telegram_id}", style="bold"), *_hot_views(hot)]
    if not durable:
        parts.append(Text("durable (SQL): no row in users"))
    else:
        parts.append(_pairs("durable (SQL): users row", durable["user"].items()))
        parts.extend(_rows(f"durable (SQL): {section.replace('_', ' ')}", durable.get(section) or [])
                     for section in DURABLE_SECTIONS)
    return Group(*(line for part in parts for line in (part, Text(""))))  # a blank line after each part

