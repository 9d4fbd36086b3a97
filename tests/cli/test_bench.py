"""The benchmark harness runs and prints a sane report on tiny workloads (never timed assertions)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import fakeredis
import pytest

from hotstore.cli.bench import main
from hotstore.cli.bench.baselines import prepare_database
from hotstore.cli.bench.floor import FloorPath, fill_floor
from hotstore.cli.bench.report import (
    COLD,
    FACADE,
    FACADE_OFF,
    FLOOR,
    FLOOR2,
    NATIVE,
    SEQUENTIAL,
    TURN,
    V4_POSTGRES,
    V4_SQLITE,
    memory_table,
    throughput_table,
    verdicts,
)
from hotstore.cli.bench.runner import parse
from hotstore.cli.bench.turn_runs import FloorTwoTrips, TurnMessage
from hotstore.cli.bench.v4_baseline import V4Database, V4Path
from hotstore.cli.bench.workload import FIRST_TELEGRAM_ID, RunResult, Workload, next_session, one_message
from hotstore.core.keys import KeyScheme, board_member
from hotstore.core.store import HotStore
from persistence.engine import create_engine
from tests.support.servers import POSTGRES_ENV, REDIS_ENV, real_server_url

TINY = Workload(users=10, bots=2, messages=20, concurrency=4)


def test_the_message_sequence_is_deterministic_and_covers_only_workload_users() -> None:
    first, second = TINY.sequence(), TINY.sequence()
    assert first == second and len(first) == TINY.messages
    assert {tg for tg, _ in first} <= set(TINY.telegram_ids())
    assert {bot for _, bot in first} <= set(TINY.bot_names)


def test_a_question_message_counts_the_question_in_the_session() -> None:
    changed = next_session({"question_count": 2, "per_type_counts": {}}, FIRST_TELEGRAM_ID)
    assert changed["question_count"] == 3
    assert sum(changed["per_type_counts"].values()) == 1
    assert changed["chat_state"] == "training_active"


def test_results_give_rate_percentiles_and_round_trips_per_message() -> None:
    result = RunResult("x", messages=10, elapsed_s=2.0, latencies_s=[0.001 * i for i in range(1, 101)], round_trips=30)
    assert result.rate == 5.0
    assert result.percentile_ms(0.5) == pytest.approx(50.0, abs=1.5)
    assert result.percentile_ms(0.99) == pytest.approx(99.0, abs=1.5)
    assert result.round_trips_per_message == 3.0


def test_the_table_has_one_line_per_row_and_ratios_to_each_baseline() -> None:
    rows = [
        RunResult(V4_POSTGRES, 100, 1.0, [0.01]),
        RunResult(V4_SQLITE, 100, 2.0, [0.02]),
        RunResult(FLOOR2, 100, 0.08, [0.001]),
        RunResult(FLOOR, 100, 0.05, [0.001]),
        RunResult(NATIVE, 100, 0.04, [0.001]),
    ]
    lines = throughput_table(rows).splitlines()
    assert len(lines) == 2 + len(rows)
    native = next(line for line in lines if NATIVE in line)
    assert "25.00x" in native and "50.00x" in native and "2.00x" in native and "1.25x" in native


def test_the_verdicts_state_each_target_with_its_figure() -> None:
    rows = [
        RunResult(V4_POSTGRES, 100, 1.0, [0.01]),
        RunResult(FLOOR2, 100, 0.1, [0.001]),
        RunResult(FACADE, 100, 0.08, [0.001]),
        RunResult(TURN, 100, 0.04, [0.001]),
        RunResult(COLD, 100, 0.25, [0.001]),
        RunResult(FLOOR2 + SEQUENTIAL, 100, 0.5, [0.001]),
        RunResult(FACADE + SEQUENTIAL, 100, 1.0, [0.001]),
        RunResult(FACADE_OFF + SEQUENTIAL, 100, 1.0, [0.001]),
    ]
    lines = verdicts(rows)
    assert any(line.startswith(FACADE) and "1.25x (target >= 1.0x: met)" in line for line in lines)
    assert any(line.startswith(TURN) and "2.50x (target >= 2.0x: met)" in line for line in lines)
    assert any(line.startswith(COLD) and "4.00x (target >= 5.0x: MISSED)" in line for line in lines)
    assert any(line.startswith("concurrency 1") and line.endswith("met)") for line in lines)


def test_the_memory_table_gives_the_session_ratio_and_its_target() -> None:
    table = memory_table({"session hash (one user, one bot)": 1100.0,
                          "session hash ratio: MEMORY USAGE / msgpack of its fields": 1.12})
    assert "| session hash (one user, one bot) | 1,100 |" in table
    assert "(target <= 1.5x: met)" in table


def test_options_scale_down_and_reject_unknown_rows() -> None:
    options = parse(["--users", "5", "--messages", "7", "--concurrency", "2", "--only", "floor2,turn"])
    assert (options.workload.users, options.workload.messages, options.workload.concurrency) == (5, 7, 2)
    assert options.rows == {"floor2", "turn"}
    with pytest.raises(SystemExit):
        parse(["--only", "nonsense"])


async def test_the_v4_way_on_sqlite_runs_one_message_per_v4_semantics(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'v4.db'}"
    await prepare_database(url, TINY)
    engine = create_engine(url)
    try:
        db = V4Database(engine)
        latencies: list[float] = []
        tg, bot = TINY.sequence()[0]
        for _ in range(10):
            await one_message(V4Path(db), tg, bot, 10, latencies)
        state = await db.get_user_session(tg, bot)
        assert state["user"]["total_xp"] == 100 and state["user"]["level"] == 2
        assert state["session"]["question_count"] == 10
        assert len(latencies) == 30
        assert await db.get_user_rank(tg) == 1
    finally:
        await engine.dispose()


async def test_the_floor_writes_the_real_key_scheme() -> None:
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    keys = KeyScheme("benchtest")
    await fill_floor(redis, keys, TINY)
    path = FloorPath(redis, keys)
    tg, bot = TINY.sequence()[0]
    await one_message(path, tg, bot, 10, [])
    session, _stats = await path.get_session(tg, bot)
    assert session["question_count"] == 1
    assert await redis.zscore(keys.global_board, board_member(tg)) == 10
    assert await redis.zscore(keys.bot_board(bot), board_member(tg)) == 10
    await redis.aclose()


async def test_the_two_round_trip_floor_writes_the_changed_fields_xp_and_boards() -> None:
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    keys = KeyScheme("benchtest")
    await fill_floor(redis, keys, TINY)
    tg, bot = TINY.sequence()[0]
    latencies: list[float] = []
    await FloorTwoTrips(redis, keys)(tg, bot, 10, latencies)
    session, _stats = await FloorPath(redis, keys).get_session(tg, bot)
    assert session["question_count"] == 1 and len(latencies) == 2
    assert await redis.zscore(keys.global_board, board_member(tg)) == 10
    await redis.aclose()


async def test_the_turn_row_changes_the_session_and_awards_xp(hot_store: HotStore) -> None:
    tg, bot = TINY.sequence()[0]
    await TurnMessage(hot_store)(tg, bot, 10, [])
    state = await hot_store.bot(bot).get_session(tg)
    assert state.session["question_count"] == 1 and state.xp == 10


TINY_ARGS = ["--users", "20", "--messages", "30", "--concurrency", "4", "--rounds", "1"]
BOARD_ARGS = ["--board-users", "2000", "--board-calls", "5"]


@pytest.mark.redis
@pytest.mark.postgres
def test_a_tiny_full_run_prints_every_row_the_board_and_the_machine(capsys: pytest.CaptureFixture[str]) -> None:
    redis_url, postgres_url = real_server_url(REDIS_ENV, "Redis"), real_server_url(POSTGRES_ENV, "PostgreSQL")
    assert main([*TINY_ARGS, *BOARD_ARGS, "--redis-url", redis_url, "--postgres-url", postgres_url]) == 0
    out = capsys.readouterr().out
    for row in (
        "v4 way, PostgreSQL",
        "v4 way, SQLite",
        "| floor: redis-py, 2 round trips ",
        "| floor: redis-py, 3 round trips ",
        "| hotstore DatabaseService ",
        "hotstore DatabaseService, autopipelining off",
        "| hotstore native ",
        "hotstore native, autopipelining off",
        "| hotstore bot.turn ",
        "cold pass: DatabaseService, every user new",
        "hotstore DatabaseService, concurrency 1",
        "hotstore bot.turn, concurrency 1",
    ):
        assert row in out
    for figure in ("msgs/s", "p99 ms", "RT/msg", "/ v4-PG", "/ floor 2-RT", "machine:", "top 10", "rank of a user",
                   "per user", "session memory / msgpack", "target >= 2.0x", "target >= 5.0x"):
        assert figure in out


@pytest.mark.redis
def test_without_postgres_the_redis_rows_run_on_sqlite(capsys: pytest.CaptureFixture[str]) -> None:
    redis_url = real_server_url(REDIS_ENV, "Redis")
    args = [*TINY_ARGS, "--no-postgres", "--only", "floor2,native", "--redis-url", redis_url]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert FLOOR2 in out and "hotstore native" in out and "v4 way" not in out.split("machine")[-1]


def test_main_is_a_plain_function_for_the_cli() -> None:
    assert callable(main) and not asyncio.iscoroutinefunction(main)
