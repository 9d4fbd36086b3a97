"""The demo's live view: leaderboard top, messages per second, dirty backlog and flush lag, ~2 times a second.

On a terminal the frame is redrawn in place (ANSI cursor movement); otherwise (a pipe, a CI log) one plain line
is printed about every second.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from hotstore.core import constants as c
from hotstore.core.leaderboard import Board, Entry

if TYPE_CHECKING:
    from hotstore.cli.demo.traffic import Traffic
    from hotstore.core.store import HotStore

TOP = 5
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


class LiveView:
    """Samples the store and the traffic and draws them on ``out``."""

    def __init__(self, store: HotStore, traffic: Traffic, *, out: TextIO) -> None:
        self.store = store
        self.traffic = traffic
        self.out = out
        self.tty = out.isatty()
        self._drawn_lines = 0
        self._previous: Sample | None = None
        self._last_plain = 0.0

    async def sample(self) -> Sample:
        """Counts from Redis (dirty sets, worker metrics, the global board) and from the traffic."""
        keys, redis = self.store.keys, self.store.redis
        async with redis.pipeline(transaction=False) as pipe:
            pipe.zcard(keys.dirty_users)
            pipe.zcard(keys.dirty_sessions)
            pipe.zrange(keys.dirty_users, 0, 0, withscores=True)
            pipe.zrange(keys.dirty_sessions, 0, 0, withscores=True)
            pipe.hget(keys.metrics, c.METRIC_ROWS_FLUSHED)
            dirty_users, dirty_sessions, oldest_user, oldest_session, flushed = await pipe.execute()
        oldest = [score for _, score in (*oldest_user, *oldest_session)]
        lag = max(0.0, time.time() - min(oldest) / 1000) if oldest else 0.0
        return Sample(time.monotonic(), self.traffic.messages, int(dirty_users), int(dirty_sessions), lag,
                      int(flushed or 0), await self._top())

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

    def draw(self, sample: Sample) -> None:
        """Show one sample: a redrawn frame on a terminal, a plain line about every second elsewhere."""
        rate = self._rate(sample)
        self._previous = sample
        if self.tty:
            lines = self.frame(sample, rate)
            up = f"\x1b[{self._drawn_lines}F" if self._drawn_lines else ""
            self.out.write(up + "".join(f"\x1b[2K{line}\n" for line in lines) + "\x1b[J")
            self._drawn_lines = len(lines)
        elif sample.at - self._last_plain >= PLAIN_EVERY_S:
            self._last_plain = sample.at
            self.out.write(self.plain_line(sample, rate) + "\n")
        self.out.flush()

    def _rate(self, sample: Sample) -> float:
        previous = self._previous
        if previous is None or sample.at <= previous.at:
            return self.traffic.rate()
        return (sample.messages - previous.messages) / (sample.at - previous.at)

    def frame(self, sample: Sample, rate: float) -> list[str]:
        """The terminal frame, one string per line."""
        lines = [
            f"messages {sample.messages:>9}   {rate:>7.0f}/s",
            f"dirty    {self.dirty_summary(sample)}",
            f"flushed  {sample.rows_flushed:>9} rows",
            "top of the global leaderboard:",
        ]
        lines += [f"  {entry.rank:>3}. {name:<16} {entry.score:>8} XP" for entry, name in sample.top]
        return lines

    def plain_line(self, sample: Sample, rate: float) -> str:
        """One log line per second for non-terminal output."""
        top = ", ".join(f"{name} {entry.score}" for entry, name in sample.top[:3]) or "-"
        return (
            f"[{sample.messages:>7} msgs {rate:>6.0f}/s] dirty {self.dirty_summary(sample)}, "
            f"flushed {sample.rows_flushed} rows | top: {top}"
        )

    @staticmethod
    def dirty_summary(sample: Sample) -> str:
        """``12 users, 30 sessions, lag 0.8s``."""
        return f"{sample.dirty_users} users, {sample.dirty_sessions} sessions, lag {sample.lag_s:.1f}s"
