"""The demo's ``rich`` dashboard (on a terminal): throughput, round trips, write-behind, the top 10, the verdict.

:class:`RoundTripMeter` counts what the store sends to Redis: on the adaptive auto-pipelining client a pipeline
of coalesced calls is one round trip (and a call sent at once another), on any other client each command is one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from hotstore.core.autopipeline import AutoPipelineRedis
from hotstore.core.leaderboard import Entry


class RoundTripMeter:
    """Round trips the store's Redis client has made so far (see the module docstring)."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._commands = 0
        original = redis.execute_command

        async def counted(*args: Any, **options: Any) -> Any:
            self._commands += 1
            return await original(*args, **options)

        redis.execute_command = counted  # this client only: the demo's store

    @property
    def round_trips(self) -> int:
        redis = self.redis
        if isinstance(redis, AutoPipelineRedis):  # coalesced calls share their pipeline's round trip
            return self._commands - redis.pipelined_calls + redis.batches_sent
        return self._commands


@dataclass(frozen=True)
class Figures:
    """What one dashboard frame shows."""

    messages: int
    rate: float
    round_trips_per_message: float
    dirty_users: int
    dirty_sessions: int
    lag_s: float
    rows_flushed: int
    flush_rate: float
    top: Sequence[tuple[Entry, str]]
    redis: str


def dashboard(figures: Figures) -> RenderableType:
    """One frame: the figures on the left, the top of the global board on the right."""
    stats = Table.grid(padding=(0, 2))
    stats.add_column(style="bold")
    stats.add_column(justify="right")
    stats.add_row("messages", f"{figures.messages:,}")
    stats.add_row("messages/s", f"{figures.rate:,.0f}")
    stats.add_row("Redis round trips / message", f"{figures.round_trips_per_message:.2f}")
    stats.add_row("dirty backlog", f"{figures.dirty_users:,} users, {figures.dirty_sessions:,} sessions")
    stats.add_row("write-behind lag", f"{figures.lag_s:.1f} s")
    stats.add_row("flushed to SQL", f"{figures.rows_flushed:,} rows ({figures.flush_rate:,.0f} rows/s)")
    board = Table(title="top 10, global board", show_edge=False, expand=False)
    board.add_column("#", justify="right")
    board.add_column("user")
    board.add_column("XP", justify="right")
    for entry, name in figures.top:
        board.add_row(str(entry.rank), name, f"{entry.score:,}")
    layout = Table.grid(padding=(0, 4))
    layout.add_row(stats, board)
    return Panel(layout, title="hotstore demo", subtitle=figures.redis)


def verdict_panel(text: str, ok: bool) -> RenderableType:
    """The closing verdict, green when SQL equals Redis, red otherwise."""
    return Panel(Group(Text(text, style="bold green" if ok else "bold red")), title="verdict")
