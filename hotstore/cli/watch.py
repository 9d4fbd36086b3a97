"""``hotstore status --watch``: the status table, refreshed every second in place, until Ctrl-C.

It reads what ``hotstore status`` reads (``workers.commands.status_async``) once per refresh and adds the flush
rate (rows per second between two refreshes). A read that fails (Redis restarting) is shown above the last good
table and retried at the next refresh. On a terminal the view redraws in place; into a pipe or file only the last
frame is written. ``iterations`` (the hidden ``--iterations N``) ends it after N refreshes, for tests and scripts.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.live import Live
from rich.text import Text

from hotstore.cli.operations import status_async
from hotstore.cli.output import console, iso_utc
from hotstore.cli.tables import status_view
from hotstore.cli.views import check_status
from hotstore.core import constants as c
from hotstore.core.settings import Settings

EXIT_OK = 0


def watch_status(settings: Settings, *, max_age: float, iterations: int | None = None, interval: float = 1.0) -> int:
    """Run the live view; Ctrl-C ends it cleanly with exit 0 (the terminal is restored by ``rich``)."""
    try:
        asyncio.run(_watch(settings, max_age=max_age, iterations=iterations, interval=interval))
    except KeyboardInterrupt:
        pass
    return EXIT_OK


class _Frames:
    """What one refresh needs from the previous one: the last good status and its rows-flushed count."""

    def __init__(self, settings: Settings, max_age: float, interval: float) -> None:
        self.settings = settings
        self.max_age = max_age
        self.interval = interval
        self.last: dict[str, Any] | None = None
        self.last_at = 0.0

    async def next(self) -> RenderableType:
        now = time.time()
        moment = iso_utc(datetime.fromtimestamp(now, tz=UTC), timespec="seconds")
        header = Text(f"hotstore status --watch · {moment} · Ctrl-C to quit", style="dim")
        try:
            info = await status_async(self.settings)
        except Exception as exc:  # shown, then retried: a watch must outlive a Redis restart
            problem = Text(f"cannot read the status: {type(exc).__name__}: {exc}", style="bold red")
            return Group(header, problem, *self._last_view(now))
        rate = None
        if self.last is not None and now > self.last_at:
            flushed = info["metrics"][c.METRIC_ROWS_FLUSHED] - self.last["metrics"][c.METRIC_ROWS_FLUSHED]
            rate = max(0, flushed) / (now - self.last_at)
        self.last, self.last_at = info, now
        return Group(header, *self._last_view(now, rate))

    def _last_view(self, now: float, rate: float | None = None) -> list[RenderableType]:
        if self.last is None:
            return []
        healthy, reason = check_status(self.last, max_age=self.max_age, now=now)
        return [status_view(self.last, healthy=healthy, reason=reason, now=now, rows_per_s=rate)]


async def _watch(settings: Settings, *, max_age: float, iterations: int | None, interval: float) -> None:
    frames = _Frames(settings, max_age, interval)
    out = console()
    try:
        with Live(console=out, auto_refresh=False, transient=False) as live:
            shown = 0
            while iterations is None or shown < iterations:
                if shown:
                    await asyncio.sleep(interval)
                live.update(await frames.next(), refresh=True)
                shown += 1
    finally:
        if not out.is_terminal:
            out.line()  # the last frame written to a pipe or file ends its line
