"""``migrate-json`` on poisoned dumps: each bad record is reported by its id and the rest imported (NUL, lone
surrogates, duplicate keys, absurd numbers); a file nested too deep is one clear line and exit 1, never a
traceback; SQL refusing one batch falls back to row by row (issue 12, findings 1 and 8)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

import hotstore.cli.migrate_json as migrate_module
from hotstore.cli.main import main
from hotstore.cli.migrate_json import migrate_json
from hotstore.core.errors import InvalidInput
from hotstore.core.settings import Settings
from persistence.models import User

BOT = "spin_bot"
CLEAN = {"session": {"chat_state": "waiting_start"}, "stats": {"total_xp": 5}}


def _raw_dump(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "users_data.json"
    path.write_text(text, encoding="utf-8")
    return path


def _record(body: dict[str, Any] | str) -> str:
    return body if isinstance(body, str) else json.dumps(body)


def _dump_of(tmp_path: Path, records: list[tuple[str, dict[str, Any] | str]]) -> Path:
    return _raw_dump(tmp_path, "{" + ", ".join(f"{json.dumps(key)}: {_record(body)}" for key, body in records) + "}")


async def _imported(engine: AsyncEngine) -> set[int]:
    async with engine.connect() as conn:
        return {int(tg) for tg in (await conn.execute(select(User.telegram_id))).scalars()}


@pytest.fixture
def import_into(store_settings: Settings, sql_engine: AsyncEngine) -> Settings:
    """Settings of both axes on a database whose tables exist."""
    return store_settings


async def test_records_sql_cannot_hold_are_reported_by_id_and_the_rest_imported(
    import_into: Settings, sql_engine: AsyncEngine, tmp_path: Path
) -> None:
    path = _dump_of(tmp_path, [
        ("1", CLEAN),
        ("2", {"session": {"note": "a\x00b"}, "stats": {}}),
        ("3", CLEAN),
        ("4", {"session": {}, "stats": {"\ud800": 1}}),
        ("5", {"session": {"deep": [{"x": "ok\udc00"}]}, "stats": {}}),
    ])

    report = await migrate_json(path, bot_name=BOT, settings=import_into, progress=None)

    reasons = {bad.key: bad.reason for bad in report.bad_records}
    assert set(reasons) == {"2", "4", "5"}
    assert "NUL" in reasons["2"] and "surrogate" in reasons["4"] and "session.deep[0].x" in reasons["5"]
    assert await _imported(sql_engine) == {1, 3}


async def test_duplicate_ids_in_the_file_are_reported_and_not_guessed(
    import_into: Settings, sql_engine: AsyncEngine, tmp_path: Path
) -> None:
    path = _dump_of(tmp_path, [("7", CLEAN), ("8", CLEAN), ("7", {"session": {}, "stats": {"total_xp": 900}})])

    report = await migrate_json(path, bot_name=BOT, settings=import_into, progress=None)

    assert [(bad.key, "2 times" in bad.reason) for bad in report.bad_records] == [("7", True)]
    assert await _imported(sql_engine) == {8}


async def test_a_duplicate_key_inside_a_record_is_reported(
    import_into: Settings, sql_engine: AsyncEngine, tmp_path: Path
) -> None:
    path = _dump_of(tmp_path, [("9", '{"session": {"a": 1, "a": 2}, "stats": {}}'), ("10", CLEAN)])

    report = await migrate_json(path, bot_name=BOT, settings=import_into, progress=None)

    assert [(bad.key, "'a'" in bad.reason) for bad in report.bad_records] == [("9", True)]
    assert await _imported(sql_engine) == {10}


async def test_an_absurd_number_is_reported_with_its_record_and_the_rest_imported(
    import_into: Settings, sql_engine: AsyncEngine, tmp_path: Path
) -> None:
    huge = "9" * 5000
    path = _dump_of(tmp_path, [("11", f'{{"session": {{"n": {huge}}}, "stats": {{}}}}'), ("12", CLEAN),
                               ("13", '{"session": {"f": 1e400}, "stats": {}}')])

    report = await migrate_json(path, bot_name=BOT, settings=import_into, progress=None)

    assert sorted(bad.key for bad in report.bad_records) == ["11", "13"]
    assert await _imported(sql_engine) == {12}


def _deep(depth: int) -> str:
    return '{"1": {"session": {"x": ' + "[" * depth + "]" * depth + '}, "stats": {}}}'


async def test_a_file_nested_too_deep_is_invalid_input_not_a_recursion_error(
    import_into: Settings, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput, match="nested too deep"):
        await migrate_json(_raw_dump(tmp_path, _deep(100_000)), bot_name=BOT, settings=import_into, progress=None)


def test_the_command_on_a_file_nested_too_deep_prints_one_line_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _raw_dump(tmp_path, _deep(100_000))
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"

    code = main(["--database-url", url, "migrate-json", str(path)])

    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1 and "nested too deep" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("sql_url", ["postgres"], indirect=True)
async def test_sql_refusing_one_record_commits_the_others_and_names_it(
    import_into: Settings, sql_engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migrate_module, "check_document", lambda name, value: dict(value))  # let the NUL through
    records: list[tuple[str, dict[str, Any] | str]] = [(str(tg), CLEAN) for tg in range(1, 201)]
    records[149] = ("150", {"session": {"note": "a\x00b"}, "stats": {}})
    path = _dump_of(tmp_path, records)

    report = await migrate_json(path, bot_name=BOT, settings=import_into, progress=None, batch_size=50)

    assert [bad.key for bad in report.bad_records] == ["150"] and "SQL refused" in report.bad_records[0].reason
    assert await _imported(sql_engine) == set(range(1, 201)) - {150}
    async with sql_engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(User))).scalar_one() == 199
