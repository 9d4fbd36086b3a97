"""What the read-only commands print for a person (rich tables, UTF-8 text, enum names, UTC ISO times) and for
machines (``--json`` with ``ensure_ascii`` off), in a narrow terminal and into a pipe; ``status --watch``."""

from __future__ import annotations

import asyncio
import enum
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from hotstore.cli import watch
from hotstore.cli.output import dumps_json, shown
from hotstore.cli.tables import status_view
from hotstore.core.settings import Settings
from hotstore.core.store import HotStore
from hotstore.durable import Payments
from persistence.enums import PaymentStatus
from tests.support.cli import run_cli, seed, table_rows

RUSSIAN = "Оптимизация продаж"


def with_session_text(settings: Settings, telegram_id: int, note: str) -> None:
    async def go() -> None:
        async with await HotStore.open(settings) as store:
            await store.bot("quiz_bot").get_session(telegram_id, username="анна")
            await store.bot("quiz_bot").patch_session(telegram_id, session={"note": note, "steps": ["шаг 1"]})

    asyncio.run(go())


def with_payment(settings: Settings, telegram_id: int) -> None:
    async def go() -> None:
        async with await HotStore.open(settings) as store:
            await Payments(store).record(telegram_id, provider="yookassa", payment_id="p-1", amount="990.00",
                                         tariff="month")

    asyncio.run(go())


# ---------------------------------------------------------------- user


def test_user_prints_cyrillic_session_text_readable(capsys: pytest.CaptureFixture[str], cli_settings: Settings,
                                                    cli_flags: list[str]) -> None:
    with_session_text(cli_settings, 51, RUSSIAN)

    status, out, _ = run_cli(capsys, *cli_flags, "user", "51")

    assert status == 0
    assert RUSSIAN in out
    assert '["шаг 1"]' in out
    assert "\\u04" not in out  # no JSON escapes


def test_user_json_keeps_cyrillic_unescaped(capsys: pytest.CaptureFixture[str], cli_settings: Settings,
                                            cli_flags: list[str]) -> None:
    with_session_text(cli_settings, 52, RUSSIAN)

    status, out, _ = run_cli(capsys, *cli_flags, "user", "52", "--json")

    assert status == 0
    assert RUSSIAN in out and "\\u04" not in out
    assert json.loads(out)["hot"]["sessions"]["quiz_bot"]["session_data"]["note"] == RUSSIAN


def test_markup_in_a_session_is_shown_literally(capsys: pytest.CaptureFixture[str], cli_settings: Settings,
                                                cli_flags: list[str]) -> None:
    with_session_text(cli_settings, 53, "[bold]урок[/bold] :smile:")

    _, out, _ = run_cli(capsys, *cli_flags, "user", "53")

    assert "[bold]урок[/bold] :smile:" in out


def test_user_shows_payment_states_by_name_and_times_in_utc_iso(
    capsys: pytest.CaptureFixture[str], cli_settings: Settings, cli_flags: list[str]
) -> None:
    with_payment(cli_settings, 54)

    _, out, _ = run_cli(capsys, *cli_flags, "user", "54")
    _, as_json, _ = run_cli(capsys, *cli_flags, "user", "54", "--json")

    payments = out[out.index("durable (SQL): payments"):]
    assert "PENDING" in payments and "PaymentStatus" not in out
    payment = json.loads(as_json)["durable"]["payments"][0]
    assert payment["status"] == "PENDING"
    assert payment["created_at"].endswith("Z")
    assert datetime.fromisoformat(payment["created_at"]).tzinfo == UTC


def test_output_into_a_pipe_has_no_terminal_codes(capsys: pytest.CaptureFixture[str], cli_settings: Settings,
                                                  cli_flags: list[str]) -> None:
    with_session_text(cli_settings, 55, RUSSIAN)

    _, out, _ = run_cli(capsys, *cli_flags, "user", "55")

    assert "\x1b[" not in out


def test_a_narrow_terminal_wraps_cells_without_losing_text(
    capsys: pytest.CaptureFixture[str], cli_settings: Settings, cli_flags: list[str],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    with_session_text(cli_settings, 56, RUSSIAN)
    monkeypatch.setenv("COLUMNS", "40")

    status, out, _ = run_cli(capsys, *cli_flags, "user", "56")

    assert status == 0
    assert max(len(line) for line in out.splitlines()) <= 40
    assert "Оптимизация" in out and "продаж" in out


# ---------------------------------------------------------------- leaderboard


def test_leaderboard_json_lists_the_page(capsys: pytest.CaptureFixture[str], cli_settings: Settings,
                                         cli_flags: list[str]) -> None:
    seed(cli_settings, {61: 30, 62: 80})

    status, out, _ = run_cli(capsys, *cli_flags, "leaderboard", "--json")

    assert status == 0
    assert [(e["rank"], e["telegram_id"], e["username"], e["score"]) for e in json.loads(out)["entries"]] == [
        (1, 62, "u62", 80), (2, 61, "u61", 30)]


def test_leaderboard_of_an_empty_board_says_so(capsys: pytest.CaptureFixture[str], cli_settings: Settings,
                                               cli_flags: list[str]) -> None:
    status, out, _ = run_cli(capsys, *cli_flags, "leaderboard")

    assert status == 0
    assert table_rows(out) == [["(empty)"]]


# ---------------------------------------------------------------- status


def test_status_prints_a_table_with_the_new_counters(capsys: pytest.CaptureFixture[str], cli_settings: Settings,
                                                     cli_flags: list[str]) -> None:
    seed(cli_settings, {71: 5})

    status, out, _ = run_cli(capsys, *cli_flags, "status")

    rows = {" ".join(line.split()[:2]): line.split()[2:] for line in out.splitlines()[1:] if line.strip()}
    assert status == 0
    assert rows["dirty users"] == ["1"]
    assert rows["refused rows"] == ["0"]
    assert rows["version conflicts"] == ["0"]


def test_status_json_stays_for_machines(capsys: pytest.CaptureFixture[str], cli_settings: Settings,
                                        cli_flags: list[str]) -> None:
    seed(cli_settings, {72: 5})

    status, out, _ = run_cli(capsys, *cli_flags, "status", "--json")

    info = json.loads(out)
    assert status == 0
    assert (info["dirty_users"], info["dirty_sessions"], info["healthy"]) == (1, 1, False)
    assert info["metrics"]["refused_rows"] == 0 and info["metrics"]["version_conflicts"] == 0
    assert set(info["redis_memory"]) == {"used_bytes", "max_bytes"}


def test_status_view_marks_refusals_and_conflicts() -> None:
    info = {"namespace": "hs", "dirty_users": 0, "dirty_sessions": 3, "oldest_dirty_age_s": 75.0,
            "metrics": {"rows_flushed": 10, "refused_rows": 2, "version_conflicts": 1, "last_flush_at": None},
            "redis_memory": {"used_bytes": 512 * 1024**2, "max_bytes": 1024**3}}
    from hotstore.cli.output import console

    out = console(record=True, width=80)
    with out.capture() as captured:
        out.print(status_view(info, healthy=False, reason="no worker has flushed yet", now=0))
    text = captured.get()

    assert "1 min 15 s" in text
    assert "512.0 MiB of 1.0 GiB (50%)" in text
    assert "UNHEALTHY: no worker has flushed yet" in text


# ---------------------------------------------------------------- status --watch


def test_watch_refreshes_the_given_number_of_times_then_exits_zero(
    capsys: pytest.CaptureFixture[str], cli_settings: Settings, cli_flags: list[str]
) -> None:
    seed(cli_settings, {81: 5})

    status, out, _ = run_cli(capsys, *cli_flags, "status", "--watch", "--iterations", "2", "--interval", "0.01")

    assert status == 0
    assert out.count("hotstore status --watch") == 1  # into a pipe: the last frame only
    assert "rows/s" in out  # the second refresh has a rate


def test_watch_ends_cleanly_on_ctrl_c(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    async def interrupted(settings: Settings) -> dict[str, Any]:
        raise KeyboardInterrupt

    monkeypatch.setattr(watch, "status_async", interrupted)

    assert watch.watch_status(Settings(), max_age=60, iterations=None, interval=0.01) == 0


def test_watch_shows_a_failed_read_and_keeps_the_last_table(monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    replies: list[Any] = [{"namespace": "hs", "dirty_users": 4, "dirty_sessions": 0, "oldest_dirty_age_s": 1.0,
                           "metrics": {"rows_flushed": 0}, "redis_memory": {}},
                          ConnectionError("Redis restarting")]

    async def flaky(settings: Settings) -> dict[str, Any]:
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return dict(reply)

    monkeypatch.setattr(watch, "status_async", flaky)

    assert watch.watch_status(Settings(), max_age=60, iterations=2, interval=0.01) == 0
    out = capsys.readouterr().out
    assert "cannot read the status: ConnectionError: Redis restarting" in out
    assert "dirty users" in out


# ---------------------------------------------------------------- values


class Colour(enum.Enum):
    RED = "red"


@pytest.mark.parametrize(("value", "expected"), [
    (Colour.RED, '"RED"'),
    (datetime(2026, 5, 1, 12, 0, 0), '"2026-05-01T12:00:00Z"'),
    (datetime(2026, 5, 1, 15, 0, 0, tzinfo=timezone(timedelta(hours=3))), '"2026-05-01T12:00:00Z"'),
    (Decimal("990.00"), '"990.00"'),
    ("Привет", '"Привет"'),
])
def test_json_values_are_plain(value: object, expected: str) -> None:
    assert dumps_json(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (None, "—"), (True, "yes"), (PaymentStatus.COMPLETED, "COMPLETED"),
    (datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC), "2026-05-01T12:00:00Z"),
    ({"b": "шаг", "a": 1}, '{"a": 1, "b": "шаг"}'),
])
def test_table_cells_are_readable(value: object, expected: str) -> None:
    assert shown(value) == expected


def test_watch_refuses_json_and_check(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run_cli(capsys, "status", "--watch", "--json")
    assert status == 1
    assert "--watch is a live view" in err
