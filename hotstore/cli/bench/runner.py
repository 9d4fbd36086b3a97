"""``hotstore bench``: every row in one process, on one workload, then the leaderboard at scale.

python -m hotstore.cli.bench                                   # 10,000 users, 4,000 messages, 32 tasks
python -m hotstore.cli.bench --users 200 --messages 300 --board-users 5000 --only floor2,turn,board

Rows (``--only``): v4-pg, v4-sqlite (the v4 way), floor2 / floor (redis-py in 2 / 3 round trips per message),
facade / native (default settings: adaptive auto-pipelining), facade-off / native-off (auto-pipelining off),
turn (``bot.turn``), cold (the facade on users met for the first time), seq (floor2, facade, facade-off and
turn at concurrency 1), board / v4-board (the leaderboard at scale).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from hotstore.cli.bench import baselines, hotstore_runs, leaderboard_scale, turn_runs
from hotstore.cli.bench.machine import describe_machine
from hotstore.cli.bench.report import (
    COLD,
    FACADE,
    FACADE_OFF,
    NATIVE_OFF,
    SEQUENTIAL,
    TURN,
    V4_POSTGRES,
    V4_SQLITE,
    board_speedups,
    board_table,
    memory_table,
    throughput_table,
    verdicts,
    workload_line,
)
from hotstore.cli.bench.workload import Contender, RunResult, Workload, run_rounds

HOT_ROWS = frozenset({"facade", "facade-off", "native", "native-off", "turn", "cold", "seq"})
ROWS = ("v4-pg", "v4-sqlite", "floor2", "floor", "facade", "facade-off", "native", "native-off", "turn", "cold",
        "seq", "board", "v4-board")
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Options:
    workload: Workload
    redis_url: str
    postgres_url: str | None
    rows: frozenset[str]
    board_users: int
    board_calls: int
    rounds: int
    v4_board_calls: int


def parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="hotstore bench", description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--bots", type=int, default=2)
    parser.add_argument("--messages", type=int, default=4_000, help="messages per row and round (get + save + add XP)")
    parser.add_argument("--concurrency", type=int, default=32, help="asyncio tasks")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or DEFAULT_REDIS)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("DATABASE_URL") or DEFAULT_POSTGRES,
        help="an admin database: the run creates and drops its own database next to it",
    )
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL row; hotstore reads SQLite")
    parser.add_argument("--only", default=",".join(ROWS), help=f"comma list of rows: {','.join(ROWS)}")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of every row (best kept)")
    parser.add_argument("--board-users", type=int, default=1_000_000, help="members of the board at scale")
    parser.add_argument("--board-calls", type=int, default=200, help="calls per leaderboard read")
    parser.add_argument("--v4-board-calls", type=int, default=10, help="calls per v4 leaderboard query (slow)")
    args = parser.parse_args(argv)
    rows = frozenset(part.strip() for part in args.only.split(",") if part.strip())
    unknown = rows - set(ROWS)
    if unknown:
        parser.error(f"unknown rows: {', '.join(sorted(unknown))}")
    for name in ("users", "bots", "messages", "concurrency", "board_users", "board_calls", "rounds", "v4_board_calls"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    workload = Workload(users=args.users, bots=args.bots, messages=args.messages, concurrency=args.concurrency)
    postgres = None if args.no_postgres else args.postgres_url
    return Options(
        workload, args.redis_url, postgres, rows, args.board_users, args.board_calls, args.rounds, args.v4_board_calls
    )


@asynccontextmanager
async def sql_for_hotstore(options: Options) -> AsyncIterator[str]:
    """The prepared SQL database the v4-PG row and the hotstore rows share (PostgreSQL, else SQLite)."""
    context = baselines.postgres_database(options.postgres_url) if options.postgres_url else baselines.sqlite_database()
    async with context as url:
        await baselines.prepare_database(url, options.workload)
        yield url


async def open_contenders(
    options: Options, url: str, stack: AsyncExitStack, memory: dict[str, float]
) -> list[Contender]:
    """Every selected throughput row, ready to run (databases seeded, namespaces filled and warmed).

    ``memory`` receives the Redis memory of one user's hashes when the stack closes (before the namespace goes).
    """
    wanted, workload = options.rows, options.workload
    contenders: list[Contender] = []
    if "v4-pg" in wanted and options.postgres_url:
        contenders.append(await stack.enter_async_context(baselines.v4_contender(V4_POSTGRES, url)))
    if "v4-sqlite" in wanted:
        sqlite_url = await stack.enter_async_context(baselines.prepared_sqlite(workload))
        contenders.append(await stack.enter_async_context(baselines.v4_contender(V4_SQLITE, sqlite_url)))
    if wanted & {"floor2", "seq"}:
        floor2 = await stack.enter_async_context(turn_runs.floor_two_trips(options.redis_url, workload))
        contenders += [c for c in floor2 if "floor2" in wanted or c.concurrency == 1]
    if "floor" in wanted:
        contenders.append(await stack.enter_async_context(baselines.floor_contender(options.redis_url, workload)))
    if wanted & HOT_ROWS:
        contenders += await _hot_contenders(options, url, stack, memory)
    return contenders


async def _hot_contenders(options: Options, url: str, stack: AsyncExitStack,
                          memory: dict[str, float]) -> list[Contender]:
    wanted, workload = options.rows, options.workload
    namespace = f"bench{uuid.uuid4().hex[:10]}"
    # the default settings on a real Redis: adaptive auto-pipelining; and the same store with it off
    rig = await stack.enter_async_context(
        hotstore_runs.hot_rig(options.redis_url, url, namespace, autopipeline=True))
    off = await stack.enter_async_context(hotstore_runs.hot_rig(options.redis_url, url, namespace))
    stack.push_async_callback(baselines.delete_namespace, off.store.redis, off.store.keys)
    progress("warming the hotstore namespace (every user and session read through from SQL, untimed)")
    await hotstore_runs.warm_namespace(off, workload)
    turn = turn_runs.TurnMessage(rig.store)
    contenders = [
        *([hotstore_runs.facade_contender(rig, workload)] if "facade" in wanted else []),
        *([hotstore_runs.facade_contender(off, workload, FACADE_OFF)] if "facade-off" in wanted else []),
        *([hotstore_runs.native_contender(rig)] if "native" in wanted else []),
        *([hotstore_runs.native_contender(off, NATIVE_OFF)] if "native-off" in wanted else []),
        *([hotstore_runs.message_contender(rig, TURN, turn)] if "turn" in wanted else []),
    ]
    if "cold" in wanted:
        contenders.append(turn_runs.ColdPass(COLD, options.redis_url, rig.engine, rig.trips, rig.redis_trips,
                                             hotstore_runs.bound_service))
    if "seq" in wanted:
        contenders += [
            hotstore_runs.facade_contender(rig, workload, FACADE + SEQUENTIAL, concurrency=1),
            hotstore_runs.facade_contender(off, workload, FACADE_OFF + SEQUENTIAL, concurrency=1),
            hotstore_runs.message_contender(rig, TURN + SEQUENTIAL, turn, concurrency=1),
        ]

    async def remember_memory() -> None:
        memory.update(await leaderboard_scale.entity_memory(off.store, workload))

    stack.push_async_callback(remember_memory)
    return contenders


async def run_all(options: Options) -> str:
    """Run the selected rows, interleaved in rounds, then the leaderboards; returns the whole report."""
    rows: list[RunResult] = []
    memory: dict[str, float] = {}
    async with sql_for_hotstore(options) as url, AsyncExitStack() as stack:
        contenders = await open_contenders(options, url, stack, memory)
        if contenders:
            progress(
                f"{len(contenders)} rows, {options.rounds} interleaved rounds: {', '.join(c.name for c in contenders)}"
            )
            rows = await run_rounds(contenders, options.workload, options.rounds)
    parts = [
        await describe_machine(options.redis_url, options.postgres_url),
        workload_line(options.workload, options.rounds),
        "",
    ]
    if rows:
        concurrent = [row for row in rows if not row.name.endswith(SEQUENTIAL)]
        sequential = [row for row in rows if row.name.endswith(SEQUENTIAL)]
        parts += [throughput_table(concurrent), ""]
        if sequential:
            parts += ["concurrency 1 (a bot that handles one message at a time):",
                      throughput_table(sequential, sequential=True), ""]
        parts += [*verdicts(rows), ""]
    if memory and "board" not in options.rows:
        parts += [memory_table(memory), ""]
    parts += await board_parts(options, memory)
    return "\n".join(parts)


async def board_parts(options: Options, memory: dict[str, float]) -> list[str]:
    """The leaderboard at scale through hotstore, and v4's SQL on the same number of users."""
    parts: list[str] = []
    board = v4_board = None
    if "board" in options.rows:
        progress(f"leaderboard: {options.board_users:,} members in Redis")
        board = await leaderboard_scale.run_board(options.redis_url, options.board_users, options.board_calls)
        board.memory = {**memory, **board.memory}
        parts += [board_table(board), ""]
    if "v4-board" in options.rows and options.postgres_url:
        progress(f"leaderboard: {options.board_users:,} users in PostgreSQL, v4's queries")
        v4_board = await leaderboard_scale.run_v4_board(
            options.postgres_url, options.board_users, options.v4_board_calls
        )
        parts += [board_table(v4_board, what="users rows (INSERT … SELECT generate_series)"), ""]
    if board is not None and v4_board is not None:
        parts += board_speedups(board, v4_board)
    return parts


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``hotstore bench`` and ``python -m hotstore.cli.bench``; prints the report, returns 0."""
    options = parse(argv)
    print(asyncio.run(run_all(options)), flush=True)
    return 0
