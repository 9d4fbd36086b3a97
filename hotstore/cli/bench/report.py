"""Plain-text tables of a benchmark run: throughput rows with ratios, and the leaderboard at scale."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hotstore.cli.bench.workload import RunResult, Workload

V4_POSTGRES = "v4 way, PostgreSQL"
V4_SQLITE = "v4 way, SQLite"
FLOOR = "floor: raw redis-py"
FACADE = "hotstore DatabaseService"
NATIVE = "hotstore native"
AUTOPIPELINE = "hotstore native + autopipeline"

TARGET_VS_V4 = 25.0
TARGET_VS_FLOOR = 0.80


@dataclass
class Timing:
    """Median and p99 of one leaderboard call, in milliseconds."""

    name: str
    p50_ms: float
    p99_ms: float
    calls: int


@dataclass
class BoardReport:
    members: int
    fill_s: float
    timings: list[Timing] = field(default_factory=list)
    memory: dict[str, float] = field(default_factory=dict)


def _ratio(row: RunResult, base: RunResult | None) -> str:
    if base is None or base.rate <= 0:
        return "-"
    return f"{row.rate / base.rate:.2f}x"


def throughput_table(rows: Sequence[RunResult]) -> str:
    """One line per row: msgs/s, per-call latency, round trips per message, and ratios to the baselines."""
    by_name = {row.name: row for row in rows}
    bases = [by_name.get(V4_POSTGRES), by_name.get(V4_SQLITE), by_name.get(FLOOR)]
    header = ("row", "msgs/s", "p50 ms", "p99 ms", "RT/msg", "/ v4-PG", "/ v4-SQLite", "/ floor")
    lines: list[tuple[str, ...]] = [header]
    for row in rows:
        lines.append(
            (
                row.name,
                f"{row.rate:,.0f}",
                f"{row.percentile_ms(0.50):.2f}",
                f"{row.percentile_ms(0.99):.2f}",
                f"{row.round_trips_per_message:.2f}",
                *(_ratio(row, base) for base in bases),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for number, line in enumerate(lines):
        cells = [line[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)
        ]
        out.append("| " + " | ".join(cells) + " |")
        if number == 0:
            out.append(
                "|" + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|"
            )
    return "\n".join(out)


def verdicts(rows: Sequence[RunResult]) -> list[str]:
    """The targets, each stated with the figure measured in this run."""
    by_name = {row.name: row for row in rows}
    v4, floor = by_name.get(V4_POSTGRES), by_name.get(FLOOR)
    out = []
    for name in (FACADE, NATIVE, AUTOPIPELINE):
        row = by_name.get(name)
        if row is None:
            continue
        if v4 is not None and v4.rate > 0:
            ratio = row.rate / v4.rate
            mark = "met" if ratio >= TARGET_VS_V4 else "MISSED"
            out.append(f"{name} / v4-PG = {ratio:.1f}x (target >= {TARGET_VS_V4:.0f}x: {mark})")
        if floor is not None and floor.rate > 0:
            ratio = row.rate / floor.rate
            mark = "met" if ratio >= TARGET_VS_FLOOR else "MISSED"
            out.append(f"{name} / floor = {ratio:.2f} (target >= {TARGET_VS_FLOOR:.2f}: {mark})")
    for row in rows:
        if row.retries:
            out.append(f"{row.name}: {row.retries} 'database is locked' retries")
        if row.note:
            out.append(f"{row.name}: {row.note}")
    return out


def board_table(board: BoardReport, what: str = "members (pipelined ZADD batches)") -> str:
    lines = [
        f"board of {board.members:,} {what}: filled in {board.fill_s:.1f} s",
        "| call | p50 ms | p99 ms | calls |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {t.name} | {t.p50_ms:.3f} | {t.p99_ms:.3f} | {t.calls} |" for t in board.timings]
    if board.memory:
        lines += ["", "| Redis memory | bytes |", "|---|---:|"]
        lines += [f"| {name} | {value:,.0f} |" for name, value in board.memory.items()]
    return "\n".join(lines)


def workload_line(workload: Workload, rounds: int = 1) -> str:
    return (
        f"workload: {workload.users:,} users, {workload.bots} bots, concurrency {workload.concurrency}, one process; "
        f"every row runs {rounds} interleaved rounds of {workload.messages:,} messages (get + save + add XP), "
        "its fastest round is shown"
    )


SPEEDUP_PAIRS = (("top 10", "v4 top 10"), ("page of 10", "v4 page of 10"), ("rank of a user", "v4 rank of a user"))


def board_speedups(board: BoardReport, v4_board: BoardReport) -> list[str]:
    """``v4 p50 / hotstore p50`` for the reads both have."""
    out = []
    for ours, theirs in SPEEDUP_PAIRS:
        mine = next((t for t in board.timings if t.name.startswith(ours)), None)
        v4 = next((t for t in v4_board.timings if t.name.startswith(theirs)), None)
        if mine is not None and v4 is not None and mine.p50_ms > 0:
            out.append(f"{ours}: hotstore is {v4.p50_ms / mine.p50_ms:,.0f}x faster than v4's SQL (p50)")
    return out
