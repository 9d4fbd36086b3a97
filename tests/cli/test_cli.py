"""The ``hotstore`` command line: help everywhere, configuration from flags or environment, one-line errors,
and the read-only commands showing what the store holds."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hotstore.cli.main import build_parser, main, settings_from_args
from hotstore.cli.views import check_status
from hotstore.core.keys import SingleTagKeys
from hotstore.core.redis_client import connect
from hotstore.core.settings import Settings
from hotstore.core.store import HotStore
from tests.support.cli import run_cli, seed, table_rows
from tests.support.single_tag import legacy_user

COMMANDS = [[], ["demo"], ["worker"], ["flush"], ["status"], ["db"], ["db", "upgrade"], ["leaderboard"], ["user"],
            ["migrate-json"]]
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


# ---------------------------------------------------------------- help and arguments


@pytest.mark.parametrize("command", COMMANDS, ids=lambda argv: " ".join(argv) or "hotstore")
def test_every_command_has_help_that_exits_zero(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    status, out, _ = run_cli(capsys, *command, "--help")
    assert status == 0
    assert out.startswith("usage: hotstore")


def test_python_dash_m_hotstore_runs_the_cli(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "hotstore", "--help"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0
    assert "migrate-json" in done.stdout


def test_global_flags_work_before_and_after_the_command() -> None:
    parser = build_parser()
    before = parser.parse_args(["--bot", "a_bot", "--namespace", "n1", "status"])
    after = parser.parse_args(["status", "--bot", "a_bot", "--namespace", "n1"])
    assert (before.bot_name, before.namespace) == (after.bot_name, after.namespace) == ("a_bot", "n1")


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_NAME", "env_bot")
    monkeypatch.setenv("HOTSTORE_NAMESPACE", "envns")
    settings = settings_from_args(build_parser().parse_args(["--bot", "flag_bot", "flush"]))
    assert (settings.bot_name, settings.namespace) == ("flag_bot", "envns")


def test_a_plain_postgresql_url_gets_the_async_driver() -> None:
    args = build_parser().parse_args(["--database-url", "postgresql://u@db:5432/x", "flush"])
    assert settings_from_args(args).database_url == "postgresql+asyncpg://u@db:5432/x"


# ---------------------------------------------------------------- one-line errors


def test_a_bad_telegram_id_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run_cli(capsys, "user", "not-a-number")
    assert status == 2
    assert err.count("\n") == 1
    assert "not a Telegram id" in err and "'not-a-number'" in err


def test_a_telegram_id_outside_int64_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run_cli(capsys, "user", str(2**63))
    assert status == 2
    assert "outside int64" in err


def test_an_unreachable_redis_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_cli(capsys, "--redis-url", UNREACHABLE_REDIS, "leaderboard")
    assert status == 1
    assert err.count("\n") == 1
    assert err.startswith("hotstore leaderboard: error: Redis unreachable")
    assert "Traceback" not in err + out


def test_an_unreachable_database_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run_cli(capsys, "--database-url", "postgresql://nobody@127.0.0.1:1/none", "user", "42")
    assert status == 1
    assert err.count("\n") == 1
    assert err.startswith("hotstore user: error:")


def test_a_missing_schema_suggests_db_upgrade(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = run_cli(capsys, "--database-url", f"sqlite:///{tmp_path / 'empty.db'}", "user", "42")
    assert status == 1
    assert err.strip().endswith("(run 'hotstore db upgrade')")


def test_an_invalid_namespace_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run_cli(capsys, "--namespace", "bad{tag}", "flush")
    assert status == 1
    assert err.count("\n") == 1
    assert "namespace must match" in err


def test_an_unknown_board_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run_cli(capsys, "leaderboard", "--board", "monthly")
    assert status == 1
    assert "board must be global, bot[:NAME] or week[:YYYY-Www]: 'monthly'" in err


def test_an_unknown_command_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run_cli(capsys, "frobnicate")
    assert status == 2
    assert err.count("\n") == 1


def test_the_console_script_reports_errors_without_a_traceback(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("hotstore")
    done = subprocess.run([str(script), "--redis-url", UNREACHABLE_REDIS, "status"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1
    assert "Traceback" not in done.stderr


# ---------------------------------------------------------------- status --check


def test_status_check_is_healthy_after_a_recent_flush() -> None:
    healthy, reason = check_status({"metrics": {"last_flush_at": 1_000_000}}, max_age=60, now=1_030)
    assert healthy
    assert reason == "last flush 30.0s ago"


def test_status_check_is_unhealthy_when_the_last_flush_is_old() -> None:
    healthy, reason = check_status({"last_flush_at": 1_000_000}, max_age=60, now=1_100)
    assert not healthy
    assert reason == "last flush 100s ago (over 60s)"


def test_status_check_is_unhealthy_before_any_flush() -> None:
    assert check_status({"last_flush_at": None}, max_age=60) == (False, "no worker has flushed yet")


# ---------------------------------------------------------------- read-only commands on a store


def test_db_upgrade_creates_the_schema(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    status, out, _ = run_cli(capsys, "--database-url", url, "db", "upgrade")
    assert status == 0
    assert out.startswith("database upgraded to head")
    status, _, err = run_cli(capsys, "--database-url", url, "user", "42")
    assert (status, err.splitlines()[-1]) == (1, "hotstore user: no user with Telegram id 42")


def test_leaderboard_prints_ranks_names_and_scores(capsys: pytest.CaptureFixture[str], cli_settings: Settings,
                                                   cli_flags: list[str]) -> None:
    seed(cli_settings, {11: 50, 12: 90, 13: 70})
    status, out, _ = run_cli(capsys, *cli_flags, "leaderboard", "--limit", "2")
    assert status == 0
    assert table_rows(out) == [["1", "12", "u12", "90"], ["2", "13", "u13", "70"]]


def test_leaderboard_pages_a_bot_board_with_an_offset(capsys: pytest.CaptureFixture[str], cli_settings: Settings,
                                                      cli_flags: list[str]) -> None:
    seed(cli_settings, {11: 50, 12: 90, 13: 70})
    status, out, _ = run_cli(capsys, *cli_flags, "leaderboard", "--board", "bot:quiz_bot", "--offset", "2")
    assert status == 0
    assert table_rows(out) == [["3", "11", "u11", "50"]]


def test_user_shows_hot_and_durable_state_as_json(capsys: pytest.CaptureFixture[str], cli_settings: Settings,
                                                  cli_flags: list[str]) -> None:
    seed(cli_settings, {21: 130})
    status, out, _ = run_cli(capsys, *cli_flags, "user", "21", "--json")
    report = json.loads(out)
    assert status == 0
    assert (report["hot"]["user"]["total_xp"], report["hot"]["user"]["level"]) == (130, 2)
    assert report["hot"]["user"]["dirty"] is True
    assert report["hot"]["sessions"]["quiz_bot"]["xp"] == 130
    assert report["hot"]["global_board"] == {"rank": 1, "score": 130}
    assert report["durable"]["user"]["telegram_id"] == 21
    assert [s["bot_name"] for s in report["durable"]["sessions"]] == ["quiz_bot"]


def test_user_text_report_names_both_homes(capsys: pytest.CaptureFixture[str], cli_settings: Settings,
                                           cli_flags: list[str]) -> None:
    seed(cli_settings, {22: 40})
    status, out, _ = run_cli(capsys, *cli_flags, "user", "22")
    assert status == 0
    assert "hot (Redis):" in out and "durable (SQL):" in out
    session = out[out.index("hot (Redis): session quiz_bot"):]
    assert session.splitlines()[1].split() == ["xp", "40"]


def test_migrate_json_dry_run_writes_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    dump = tmp_path / "users_data.json"
    dump.write_text(json.dumps({"31": {"username": "ann", "session": {}, "stats": {}}}))
    database = tmp_path / "m.db"
    status, out, _ = run_cli(capsys, "--database-url", f"sqlite:///{database}", "migrate-json", str(dump),
                             "--dry-run")
    assert status == 0
    assert out.startswith("dry run, nothing written")
    assert not database.exists()


def test_user_report_lists_badges_and_access_from_sql(capsys: pytest.CaptureFixture[str], cli_settings: Settings,
                                                      cli_flags: list[str]) -> None:
    from hotstore.durable import Access, Badges

    async def award() -> None:
        async with await HotStore.open(cli_settings) as store:
            await Badges(store).award(23, "first_win", bot_name="quiz_bot")
            await Access(store).add_free_trainings(23, {"channel": 2})

    asyncio.run(award())
    status, out, _ = run_cli(capsys, *cli_flags, "user", "23", "--json")
    durable = json.loads(out)["durable"]
    assert status == 0
    assert [(b["badge_type"], b["earned_in_bot"]) for b in durable["badges"]] == [("first_win", "quiz_bot")]
    assert [f["trainings_left"] for f in durable["free_trainings"]] == [2]


def test_flush_writes_dirty_entities_to_sql(capsys: pytest.CaptureFixture[str], cli_settings: Settings,
                                            cli_flags: list[str]) -> None:
    seed(cli_settings, {41: 75})
    status, out, _ = run_cli(capsys, *cli_flags, "flush")
    assert status == 0
    assert "nothing dirty remains" in out
    status, out, _ = run_cli(capsys, *cli_flags, "user", "41", "--json")
    report = json.loads(out)
    assert report["durable"]["user"]["total_xp"] == 75
    assert report["hot"]["user"]["dirty"] is False


def test_status_check_after_a_flush_is_healthy(capsys: pytest.CaptureFixture[str], cli_settings: Settings,
                                               cli_flags: list[str]) -> None:
    seed(cli_settings, {42: 5})
    run_cli(capsys, *cli_flags, "flush")
    status, out, _ = run_cli(capsys, *cli_flags, "status", "--check")
    assert status == 0
    assert out.startswith("healthy: last flush")


def test_status_check_without_any_flush_is_unhealthy(capsys: pytest.CaptureFixture[str], cli_settings: Settings,
                                                     cli_flags: list[str]) -> None:
    status, _, err = run_cli(capsys, *cli_flags, "status", "--check")
    assert status == 1
    assert err.splitlines()[-1] == "UNHEALTHY: no worker has flushed yet"


def test_bench_is_a_command_with_its_own_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--help"])
    assert exit_info.value.code == 0
    assert "--concurrency" in capsys.readouterr().out


def test_migrate_layout_upgrades_a_single_tag_namespace(capsys: pytest.CaptureFixture[str], cli_settings: Settings,
                                                        cli_flags: list[str]) -> None:
    async def write_single_tag_user() -> None:
        client = connect(cli_settings)
        await legacy_user(client, SingleTagKeys(cli_settings.namespace), 77, 1, xp=30, version=2, dirty=True)
        await client.aclose()

    asyncio.run(write_single_tag_user())
    status, out, _ = run_cli(capsys, *cli_flags, "migrate-layout", "--check")
    assert status == 1
    assert "single-tag keys left: 1 dirty users, 1 users" in out
    status, out, _ = run_cli(capsys, *cli_flags, "migrate-layout")
    assert status == 0
    assert out.startswith("layout: sharded") and "entities adopted: 1" in out
    status, out, _ = run_cli(capsys, *cli_flags, "migrate-layout", "--check")
    assert status == 0
