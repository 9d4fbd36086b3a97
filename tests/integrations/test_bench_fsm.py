"""The FSM benchmark (python -m hotstore.cli.bench.fsm) runs both rows and reports a ratio (never timed assertions)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("aiogram")

from hotstore.cli.bench.fsm import HOTSTORE, REDIS_STORAGE, Options, parse, run


def test_the_options_default_to_a_full_run_and_accept_a_smoke_size() -> None:
    assert parse(["--redis-url", "redis://x"]).messages == 20_000
    smoke = parse(["--users", "3", "--messages", "9", "--rounds", "1"])
    assert smoke == Options(parse([]).redis_url, None, 3, 9, 32, 1)


async def test_a_smoke_run_reports_both_rows_the_ratio_and_nothing_left_dirty(tmp_path: Path,
                                                                               redis_url: str | None) -> None:
    options = Options(redis_url, f"sqlite+aiosqlite:///{tmp_path / 'bench.db'}", users=5, messages=12,
                      concurrency=3, rounds=1)
    text = await run(options)
    assert HOTSTORE in text and REDIS_STORAGE in text
    assert "ratio HotstoreStorage / RedisStorage:" in text
    written = re.search(r"rows written behind to SQL: (\d+)", text)
    assert written is not None and int(written.group(1)) >= 5  # every user's session, at least once
    assert "still dirty after the final drain: 0" in text
