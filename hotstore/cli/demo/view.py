"""The demo's live view: messages per second, round trips per message, dirty backlog and flush lag, flushed rows
per second and the top 10 of the global board, ~2 times a second.

On a terminal it is a ``rich`` dashboard redrawn in place (hotstore.cli.demo.dashboard); otherwise (a pipe, a CI
log) one plain line is printed about every second.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from rich.console import Console
from rich.live import Live

from hotstore.cli.demo.dashboard import Figures, RoundTripMeter, dashboard
from hotstore.core import constants as c
from hotstore.core.leaderboard import Board, Entry
from hotstore.writebehind.flush import dirty_counts, oldest_dirty_score

if TYPE_CHECKING:
    from hotstore.cli.demo.traffic import Traffic
    from hotstore.core.store import HotStore

TOP = 10
PLAIN_EVERY_S = 1.0


@dataclass(frozen=True)
class Sample:
    """One look at the system."""

    at: float
    messages: int
    dirty_users: int
    dirty_sessions: int
    lag_s: float  # age of the oldest dirty entity: how far SQL is behind Redis
    rows_flushed: int
    top: list[tuple[Entry, str]] = field(default_factory=list)
    round_trips: int = 0


class LiveView:
    """Samples the store and the traffic and draws them on ``out``."""

    def __init__(self, store: HotStore, traffic: Traffic, *, out: TextIO, redis_label: str = "") -> None:
        self.store = store
        self.traffic = traffic
        self.out = out
        self.tty = out.isatty()
        self.meter = RoundTripMeter(store.redis)
        self.redis_label = redis_label
        self._live: Live | None = None
        self._previous: Sample | None = None
        self._first: Sample | None = None
        self._last_plain = 0.0

    async def sample(self) -> Sample:
        """Counts from Redis (dirty sets, worker metrics, the global board) and from the traffic."""
        keys, redis = self.store.keys, self.store.redis
        counts = await dirty_counts(redis, keys)
        oldest = await oldest_dirty_score(redis, keys)
        flushed = await redis.hget(keys.metrics, c.METRIC_ROWS_FLUSHED)  # type: ignore[misc]  # sync|async union
        lag = max(0.0, time.time() - oldest / 1000) if oldest is not None else 0.0
        return Sample(time.monotonic(), self.traffic.messages, counts["users"], counts["sessions"], lag,
                      int(flushed or 0), await self._top(), self.meter.round_trips)

    async def _top(self) -> list[tuple[Entry, str]]:
        entries = await self.store.leaderboards.page(Board.global_(), limit=TOP)
        async with self.store.redis.pipeline(transaction=False) as pipe:
            for entry in entries:
                pipe.hget(self.store.keys.user(entry.telegram_id), c.USER_USERNAME)
            names = await pipe.execute()
        return [(entry, (name or b"?").decode()) for entry, name in zip(entries, names, strict=True)]

    async def run_until(self, stop: asyncio.Event, *, refresh: float) -> None:
        """Redraw every ``refresh`` seconds until ``stop`` is set."""
        while not stop.is_set():
            self.draw(await self.sample())
            try:
                await asyncio.wait_for(stop.wait(), timeout=refresh)
            except TimeoutError:
                pass
        if self.tty:
            self.draw(await self.sample())
            if self._live is not None:
                self._live.stop()
                self._live = None

    def draw(self, sample: Sample) -> None:
        """Show one sample: the dashboard on a terminal, a plain line about every second elsewhere."""
        rate = self._rate(sample)
        figures = self.figures(sample, rate)
        line = self.plain_line(sample, figures)
        self._previous = sample
        if self._first is None:
            self._first = sample
        if self.tty:
            if self._live is None:
                self._live = Live(console=Console(file=self.out), auto_refresh=False, transient=False)
                self._live.start()
            self._live.update(dashboard(figures), refresh=True)
        elif sample.at - self._last_plain >= PLAIN_EVERY_S:
            self._last_plain = sample.at
            self.out.write(line + "\n")
        self.out.flush()

    def figures(self, sample: Sample, rate: float) -> Figures:
        """The dashboard's figures: rates since the previous sample, round trips per message since the first."""
        previous, first = self._previous, self._first
        flush_rate = 0.0
        if previous is not None and sample.at > previous.at:
            flush_rate = (sample.rows_flushed - previous.rows_flushed) / (sample.at - previous.at)
        trips = 0.0
        if first is not None and sample.messages > first.messages:
            trips = (sample.round_trips - first.round_trips) / (sample.messages - first.messages)
        return Figures(sample.messages, rate, trips, sample.dirty_users, sample.dirty_sessions, sample.lag_s,
                       sample.rows_flushed, flush_rate, sample.top, self.redis_label)

    def _rate(self, sample: Sample) -> float:
        previous = self._previous
        if previous is None or sample.at <= previous.at:
            return self.traffic.rate()
        return (sample.messages - previous.messages) / (sample.at - previous.at)

    def plain_line(self, sample: Sample, figures: Figures) -> str:
        """One log line per second for non-terminal output."""
        top = ", ".join(f"{name} {entry.score}" for entry, name in sample.top[:3]) or "-"
        return (
            f"[{sample.messages:>7} msgs {figures.rate:>6.0f}/s, {figures.round_trips_per_message:.2f} RT/msg] "
            f"dirty {self.dirty_summary(sample)}, flushed {sample.rows_flushed} rows "
            f"({figures.flush_rate:.0f}/s) | top: {top}"
        )

    @staticmethod
    def dirty_summary(sample: Sample) -> str:
        """``12 users, 30 sessions, lag 0.8s``."""
        return f"{sample.dirty_users} users, {sample.dirty_sessions} sessions, lag {sample.lag_s:.1f}s"
