"""Plain-text tables of a benchmark run: throughput rows with ratios, and the leaderboard at scale."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hotstore.cli.bench.workload import RunResult, Workload

V4_POSTGRES = "v4 way, PostgreSQL"
V4_SQLITE = "v4 way, SQLite"
FLOOR2 = "floor: redis-py, 2 round trips"
FLOOR = "floor: redis-py, 3 round trips"
FACADE = "hotstore DatabaseService"
FACADE_OFF = "hotstore DatabaseService, autopipelining off"
NATIVE = "hotstore native"
NATIVE_OFF = "hotstore native, autopipelining off"
TURN = "hotstore bot.turn"
COLD = "cold pass: DatabaseService, every user new"
SEQUENTIAL = ", concurrency 1"  # suffix of the sequential rows (a bot handling one message at a time)

TARGET_FACADE_VS_FLOOR2 = 1.0
TARGET_TURN_VS_FLOOR2 = 2.0
TARGET_COLD_VS_V4 = 5.0
TARGET_SESSION_MEMORY = 1.5
SEQUENTIAL_NOISE = 0.95  # "no slower than before" within this much of the same run's off row


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


def throughput_table(rows: Sequence[RunResult], sequential: bool = False) -> str:
    """One line per row: msgs/s, per-call latency, round trips per message, and ratios to the baselines (for the
    sequential rows, to the sequential 2-round-trip floor)."""
    by_name = {row.name: row for row in rows}
    if sequential:
        bases = [by_name.get(FLOOR2 + SEQUENTIAL)]
        names: tuple[str, ...] = ("/ floor 2-RT c1",)
    else:
        bases = [by_name.get(V4_POSTGRES), by_name.get(V4_SQLITE), by_name.get(FLOOR2), by_name.get(FLOOR)]
        names = ("/ v4-PG", "/ v4-SQLite", "/ floor 2-RT", "/ floor 3-RT")
    header = ("row", "msgs/s", "p50 ms", "p99 ms", "RT/msg", *names)
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


def _target(rows: dict[str, RunResult], name: str, base: str, target: float) -> list[str]:
    row, reference = rows.get(name), rows.get(base)
    if row is None or reference is None or reference.rate <= 0:
        return []
    ratio = row.rate / reference.rate
    mark = "met" if ratio >= target else "MISSED"
    return [f"{name} / {base} = {ratio:.2f}x (target >= {target:.1f}x: {mark})"]


def _sequential_verdict(rows: dict[str, RunResult]) -> list[str]:
    floor, now, before = (rows.get(name + SEQUENTIAL) for name in (FLOOR2, FACADE, FACADE_OFF))
    if floor is None or now is None or before is None or floor.rate <= 0:
        return []
    after_ratio, before_ratio = now.rate / floor.rate, before.rate / floor.rate
    mark = "met" if after_ratio >= SEQUENTIAL_NOISE * before_ratio else "MISSED"
    return [f"concurrency 1: {FACADE} / floor = {after_ratio:.2f}x, with autopipelining off (as before) "
            f"{before_ratio:.2f}x (target: no slower than before, within {1 - SEQUENTIAL_NOISE:.0%}: {mark})"]


def verdicts(rows: Sequence[RunResult]) -> list[str]:
    """The targets, each stated with the figures measured in this run."""
    by_name = {row.name: row for row in rows}
    out = [
        *_target(by_name, FACADE, FLOOR2, TARGET_FACADE_VS_FLOOR2),
        *_target(by_name, TURN, FLOOR2, TARGET_TURN_VS_FLOOR2),
        *_target(by_name, COLD, V4_POSTGRES, TARGET_COLD_VS_V4),
        *_sequential_verdict(by_name),
    ]
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
        lines += ["", memory_table(board.memory)]
    return "\n".join(lines)


def memory_table(memory: dict[str, float]) -> str:
    """Bytes of Redis memory per entity, the session hash's ratios, and the session memory target."""
    lines = ["| Redis memory | bytes |", "|---|---:|"]
    lines += [f"| {name} | {value:,.0f} |" for name, value in memory.items() if "ratio" not in name]
    lines += [f"{name}: {value:.2f}x" for name, value in memory.items() if "ratio" in name]
    ratio = memory.get(SESSION_MEMORY_RATIO)
    if ratio is not None:
        mark = "met" if ratio <= TARGET_SESSION_MEMORY else "MISSED"
        lines.append(f"session memory / msgpack = {ratio:.2f}x (target <= {TARGET_SESSION_MEMORY:.1f}x: {mark})")
    return "\n".join(lines)


SESSION_MEMORY_RATIO = "session hash ratio: MEMORY USAGE / msgpack of its fields"


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
