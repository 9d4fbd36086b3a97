"""The demo's rich dashboard shows every figure, and its round-trip meter counts what the store sends."""

from __future__ import annotations

import io

from rich.console import Console

from hotstore import HotStore
from hotstore.cli.demo.dashboard import Figures, RoundTripMeter, dashboard, verdict_panel
from hotstore.core.leaderboard import Entry


def _render(renderable: object) -> str:
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_the_dashboard_shows_rates_round_trips_backlog_flushes_and_the_top_10() -> None:
    top = [(Entry(rank, 700_000_000 + rank, 1000 - rank), f"user{rank}") for rank in range(1, 11)]
    text = _render(dashboard(Figures(12_345, 2_400.0, 0.42, 17, 30, 0.8, 9_000, 1_500.0, top, "redis-server")))
    for figure in ("12,345", "2,400", "0.42", "17 users, 30 sessions", "0.8 s", "9,000 rows (1,500 rows/s)",
                   "user10", "top 10"):
        assert figure in text


def test_the_closing_verdict_is_a_panel_with_the_verdict_line() -> None:
    assert "VERDICT: OK — SQL equals Redis" in _render(verdict_panel("VERDICT: OK — SQL equals Redis (1 users)", True))


async def test_the_meter_counts_one_round_trip_per_command_on_a_plain_client(hot_store: HotStore) -> None:
    meter = RoundTripMeter(hot_store.redis)
    await hot_store.bot("spin").get_session(1)
    before = meter.round_trips
    await hot_store.bot("spin").get_session(1)
    assert meter.round_trips - before == 1
