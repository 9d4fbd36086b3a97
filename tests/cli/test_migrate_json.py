"""``migrate_json``: the import of v4's ``users_data.json`` (a JSON object of Telegram ids as decimal strings, each
``{"session": {...}, "stats": {...}}``, as v4's ``scripts/migrate_from_json.py`` read it), on every backend."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from hotstore.cli.migrate_json import migrate_json
from hotstore.core.errors import InvalidInput
from hotstore.core.settings import Settings
from hotstore.core.store import HotStore
from persistence.engine import create_engine
from persistence.models import BotSession, User

BOT = "spin_bot"


def v4_record(xp: int = 0, *, level: int = 1, trainings: int = 0, chat_state: str = "waiting_start") -> dict[str, Any]:
    """One record as v4's UserServicePersistent wrote it (a partial session: merged with defaults on import)."""
    return {
        "session": {"question_count": 3, "per_type_counts": {"situational": 2}, "chat_state": chat_state},
        "stats": {"total_xp": xp, "current_level": level, "total_trainings": trainings, "best_score": xp},
    }


def write_dump(tmp_path: Path, records: dict[str, Any]) -> Path:
    path = tmp_path / "users_data.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


@pytest.fixture
def import_settings(store_settings: Settings, sql_engine: AsyncEngine) -> Settings:
    """``store_settings`` (both axes) on a database whose tables exist, as after ``hotstore db upgrade``."""
    return store_settings


async def sql_user(settings: Settings, telegram_id: int) -> tuple[User | None, BotSession | None]:
    engine = create_engine(settings.database_url)
    try:
        async with AsyncSession(engine) as session:
            user = (await session.execute(select(User).where(User.telegram_id == telegram_id))).scalar_one_or_none()
            bot_session = None
            if user is not None:
                stmt = select(BotSession).where(BotSession.user_id == user.id, BotSession.bot_name == BOT)
                bot_session = (await session.execute(stmt)).scalar_one_or_none()
            return user, bot_session
    finally:
        await engine.dispose()


async def test_imports_counters_and_documents_into_sql(import_settings: Settings, tmp_path: Path) -> None:
    path = write_dump(tmp_path, {"111": v4_record(620, level=2, trainings=4)})

    report = await migrate_json(path, bot_name=BOT, settings=import_settings, progress=None)

    user, bot_session = await sql_user(import_settings, 111)
    assert report.ok and report.valid == 1 and report.users_written == 1
    assert user is not None and bot_session is not None
    assert (user.total_xp, user.level, user.total_trainings, user.total_score) == (620, 2, 4, 0)
    assert bot_session.xp == 620
    assert bot_session.session_data["per_type_counts"] == {"situational": 2}
    assert bot_session.stats_data["best_score"] == 620


async def test_merges_json_documents_over_the_v4_defaults(import_settings: Settings, tmp_path: Path) -> None:
    path = write_dump(tmp_path, {"111": v4_record(10)})

    await migrate_json(path, bot_name=BOT, settings=import_settings, progress=None)

    _, bot_session = await sql_user(import_settings, 111)
    assert bot_session is not None
    assert bot_session.session_data["chat_state"] == "waiting_start"  # from the file
    assert bot_session.session_data["last_client_response"] == ""  # from the defaults
    assert bot_session.stats_data["achievements_unlocked"] == []
    assert bot_session.stats_data["level_up_notification"]["should_show"] is False


async def test_second_run_writes_nothing(import_settings: Settings, tmp_path: Path) -> None:
    path = write_dump(tmp_path, {"111": v4_record(50), "222": v4_record(70)})
    await migrate_json(path, bot_name=BOT, settings=import_settings, progress=None)
    user_before, session_before = await sql_user(import_settings, 111)

    again = await migrate_json(path, bot_name=BOT, settings=import_settings, progress=None)

    user_after, session_after = await sql_user(import_settings, 111)
    assert (again.users_written, again.sessions_written, again.valid) == (0, 0, 2)
    assert user_before is not None and user_after is not None
    assert session_before is not None and session_after is not None
    assert (user_after.total_xp, user_after.version) == (user_before.total_xp, user_before.version)
    assert session_after.version == session_before.version


async def test_reports_bad_records_with_their_ids_and_imports_the_rest(
    import_settings: Settings, tmp_path: Path
) -> None:
    records = {
        "111": v4_record(5),
        "not-a-number": v4_record(),
        "333": "garbage",
        "444": {"session": {}, "stats": {"total_xp": "lots"}},
        "555": {"session": [1, 2], "stats": {}},
    }
    path = write_dump(tmp_path, records)

    report = await migrate_json(path, bot_name=BOT, settings=import_settings, progress=None)

    assert sorted(bad.key for bad in report.bad_records) == ["333", "444", "555", "not-a-number"]
    assert report.valid == 1 and not report.ok
    user, _ = await sql_user(import_settings, 111)
    missing, _ = await sql_user(import_settings, 444)
    assert user is not None and missing is None


async def test_dry_run_writes_nothing_and_makes_no_backup(import_settings: Settings, tmp_path: Path) -> None:
    path = write_dump(tmp_path, {"111": v4_record(5), "x": {}})

    report = await migrate_json(path, bot_name=BOT, dry_run=True, settings=import_settings, progress=None)

    user, _ = await sql_user(import_settings, 111)
    assert (report.valid, len(report.bad_records), report.backup) == (1, 1, None)
    assert user is None
    assert not (tmp_path / "users_data.json.backup").exists()


async def test_backs_the_file_up_next_to_it(import_settings: Settings, tmp_path: Path) -> None:
    path = write_dump(tmp_path, {"111": v4_record(5)})

    report = await migrate_json(path, bot_name=BOT, settings=import_settings, progress=None)

    assert report.backup == tmp_path / "users_data.json.backup"
    assert report.backup.read_bytes() == path.read_bytes()


async def test_rejects_a_file_that_is_not_a_json_object(import_settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "users_data.json"
    path.write_text("[1, 2, 3]", encoding="utf-8")

    with pytest.raises(InvalidInput, match="JSON object"):
        await migrate_json(path, bot_name=BOT, settings=import_settings, progress=None)


async def test_a_clean_hot_copy_does_not_shadow_the_import(import_settings: Settings, tmp_path: Path) -> None:
    async with await HotStore.open(import_settings) as store:
        await store.bot(BOT).get_session(111)  # loads a clean copy with the defaults into Redis
        path = write_dump(tmp_path, {"111": v4_record(900, level=3)})

        report = await migrate_json(path, bot_name=BOT, settings=import_settings, progress=None)
        state = await store.bot(BOT).get_session(111)

    assert report.live_conflicts == []
    assert (state.user.total_xp, state.user.level, state.xp) == (900, 3, 900)
    assert state.session["chat_state"] == "waiting_start"


async def test_a_dirty_hot_copy_is_kept_and_reported(import_settings: Settings, tmp_path: Path) -> None:
    async with await HotStore.open(import_settings) as store:
        await store.bot(BOT).add_xp(111, 40)  # unflushed: only Redis has it
        path = write_dump(tmp_path, {"111": v4_record(900)})

        report = await migrate_json(path, bot_name=BOT, settings=import_settings, progress=None)
        user = await store.get_user(111)

    assert report.live_conflicts == [111]
    assert user is not None and user.total_xp == 40


async def test_imports_ten_thousand_users_with_some_malformed(
    import_settings: Settings, tmp_path: Path
) -> None:
    records: dict[str, Any] = {str(1_000_000 + i): v4_record(i, trainings=i % 7) for i in range(10_000)}
    for i in range(0, 10_000, 1000):  # ten malformed records among them
        records[str(1_000_000 + i)] = {"session": {}, "stats": {"current_level": -1}}
    progress = io.StringIO()
    path = write_dump(tmp_path, records)

    report = await migrate_json(path, bot_name=BOT, settings=import_settings, progress=progress)

    engine = create_engine(import_settings.database_url)
    async with AsyncSession(engine) as session:
        users = (await session.execute(select(func.count(User.id)))).scalar_one()
        xp = (await session.execute(select(func.sum(User.total_xp)))).scalar_one()
    await engine.dispose()
    assert (report.records, report.valid, len(report.bad_records)) == (10_000, 9_990, 10)
    assert users == 9_990
    assert xp == sum(range(10_000)) - sum(range(0, 10_000, 1000))
    assert "9990/9990 (100%)" in progress.getvalue()
    assert report.seconds < 60
