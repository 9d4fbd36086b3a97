"""Every code example of the v4 documentation (its "Примеры кода" 1–6 and the FAQ's user deletion) runs
unchanged except for its imports, on the embedded defaults and on real Redis and PostgreSQL.

The example bodies below are copied from the document; only the import lines differ:
``services.database_service`` → ``hotstore.compat``, ``database`` → ``persistence``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hotstore.compat import DatabaseService
from persistence import get_session
from persistence.repositories import UserRepository
from tests.support.v4_process import v4_process

# ---------------------------------------------------------------- the document's examples, verbatim


async def create_user_example():  # type: ignore[no-untyped-def]
    async with get_session() as session:
        user_repo = UserRepository(session)

        user = await user_repo.get_or_create(
            telegram_id=123456,
            username="johndoe",
            first_name="John"
        )

        print(f"User created: {user.telegram_id}, XP: {user.total_xp}, Level: {user.level}")


async def session_example():  # type: ignore[no-untyped-def]
    db_service = DatabaseService(bot_name="spin_bot")

    # Получить сессию
    user_data = await db_service.get_user_session(telegram_id=123456)

    # Модифицировать
    user_data['session']['question_count'] = 5
    user_data['session']['clarity_level'] = 75

    # Сохранить
    await db_service.save_session(
        telegram_id=123456,
        session_data=user_data['session'],
        stats_data=user_data['stats']
    )


async def xp_example():  # type: ignore[no-untyped-def]
    db_service = DatabaseService(bot_name="spin_bot")

    levels_config = [
        {"level": 1, "min_xp": 0},
        {"level": 2, "min_xp": 100},
        {"level": 3, "min_xp": 300}
    ]

    result = await db_service.add_xp_and_check_level_up(
        telegram_id=123456,
        xp_to_add=150,
        levels_config=levels_config
    )

    if result['leveled_up']:
        print(f"🎊 Level up! {result['old_level']} → {result['new_level']}")


async def badge_example():  # type: ignore[no-untyped-def]
    db_service = DatabaseService(bot_name="spin_bot")

    # Выдать бейдж
    awarded = await db_service.award_badge(
        telegram_id=123456,
        badge_type="spin_master",
        metadata={"score": 185, "date": "2025-01-15"}
    )

    if awarded:
        print("🏆 Бейдж выдан!")
    else:
        print("Бейдж уже есть у пользователя")

    # Получить все бейджи
    badges = await db_service.get_user_badges(telegram_id=123456, all_bots=True)
    for badge in badges:
        print(f"- {badge['badge_type']} (from {badge['earned_in_bot']})")


async def history_example():  # type: ignore[no-untyped-def]
    db_service = DatabaseService(bot_name="spin_bot")

    await db_service.save_training_history(
        telegram_id=123456,
        total_score=185,
        clarity_level=92,
        question_count=8,
        contextual_questions=3,
        per_type_counts={"situation": 2, "problem": 3, "implication": 2, "need_payoff": 1},
        case_data={"client": "TechCorp", "product": "CRM System"},
        session_snapshot={"full": "session", "data": "here"}
    )

    # Получить историю
    history = await db_service.get_user_training_history(telegram_id=123456, limit=5)
    for record in history:
        print(f"Тренировка {record['training_date']}: {record['total_score']} баллов")


async def cross_bot_example():  # type: ignore[no-untyped-def]
    # SPIN бот добавляет XP
    db_spin = DatabaseService(bot_name="spin_bot")
    await db_spin.add_xp_and_check_level_up(telegram_id=123456, xp_to_add=100)

    # Quiz бот видит ТОТ ЖЕ XP!
    db_quiz = DatabaseService(bot_name="quiz_bot")
    user_data = await db_quiz.get_user_session(telegram_id=123456)

    print(f"XP в Quiz боте (общий): {user_data['user']['total_xp']}")  # 100!
    print(f"Level в Quiz боте (общий): {user_data['user']['level']}")  # 2!

    # Но сессии РАЗНЫЕ:
    print(f"Session Quiz бота: {user_data['session']}")  # Пустая сессия для quiz_bot


async def delete_user_faq(telegram_id):  # type: ignore[no-untyped-def]
    async with get_session() as session:
        user_repo = UserRepository(session)
        user = await user_repo.get_by_telegram_id(telegram_id)

        if user:
            await session.delete(user)  # Cascade удалит все связанные данные
            await session.flush()


# ---------------------------------------------------------------- a v4 bot's process, per backend

TG = 123456


@pytest.fixture
async def v4_bot(
    sql_url: str, redis_url: str | None, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[None]:
    """What a v4 bot's main() does: configure by environment, ``init_db()``, and ``close_db()`` at the end."""
    async with v4_process(monkeypatch, sql_url, redis_url, namespace, bot_name=None):
        yield


pytestmark = pytest.mark.usefixtures("v4_bot")


async def test_example_1_creates_a_user_with_no_xp_at_level_1(capsys: pytest.CaptureFixture[str]) -> None:
    await create_user_example()

    assert capsys.readouterr().out == "User created: 123456, XP: 0, Level: 1\n"
    info = await DatabaseService().get_user_info(TG)
    assert info is not None and (info["username"], info["first_name"]) == ("johndoe", "John")


async def test_example_2_saved_session_comes_back() -> None:
    await create_user_example()

    await session_example()

    data = await DatabaseService(bot_name="spin_bot").get_user_session(TG)
    assert (data["session"]["question_count"], data["session"]["clarity_level"]) == (5, 75)
    assert data["stats"]["total_trainings"] == 0


async def test_example_3_reports_the_level_up(capsys: pytest.CaptureFixture[str]) -> None:
    await create_user_example()
    capsys.readouterr()

    await xp_example()

    assert capsys.readouterr().out == "🎊 Level up! 1 → 2\n"
    info = await DatabaseService().get_user_info(TG)
    assert info is not None and (info["total_xp"], info["level"]) == (150, 2)


async def test_example_4_awards_a_badge_once(capsys: pytest.CaptureFixture[str]) -> None:
    await create_user_example()
    capsys.readouterr()

    await badge_example()
    await badge_example()

    assert capsys.readouterr().out.splitlines() == [
        "🏆 Бейдж выдан!",
        "- spin_master (from spin_bot)",
        "Бейдж уже есть у пользователя",
        "- spin_master (from spin_bot)",
    ]


async def test_example_5_history_comes_back_newest_first(capsys: pytest.CaptureFixture[str]) -> None:
    await create_user_example()
    db = DatabaseService(bot_name="spin_bot")
    await db.save_training_history(TG, 100, 50, 5, 1)
    capsys.readouterr()

    await history_example()

    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[-1] for line in lines] == ["185 баллов", "100 баллов"]
    history = await db.get_user_training_history(TG, limit=5)
    assert history[0]["per_type_counts"] == {"situation": 2, "problem": 3, "implication": 2, "need_payoff": 1}
    assert "session_snapshot" not in history[0]


async def test_example_6_xp_is_shared_and_sessions_are_separate(capsys: pytest.CaptureFixture[str]) -> None:
    await create_user_example()
    await session_example()  # spin_bot's session now has question_count 5
    capsys.readouterr()

    await cross_bot_example()

    out = capsys.readouterr().out.splitlines()
    assert out[0] == "XP в Quiz боте (общий): 100"
    assert out[1] == "Level в Quiz боте (общий): 2"
    quiz = await DatabaseService(bot_name="quiz_bot").get_user_session(TG)
    spin = await DatabaseService(bot_name="spin_bot").get_user_session(TG)
    assert quiz["session"]["question_count"] == 0 and quiz["session"]["chat_state"] == "new"
    assert spin["session"]["question_count"] == 5


async def test_faq_deletion_removes_the_user_from_sql_and_the_hot_store() -> None:
    await create_user_example()
    db = DatabaseService(bot_name="spin_bot")
    await db.add_xp_and_check_level_up(TG, 250)  # hot, not yet flushed
    await db.award_badge(TG, "spin_master")

    await delete_user_faq(TG)

    assert await db.get_user_info(TG) is None
    assert await db.get_user_rank(TG) is None
    assert await db.get_leaderboard() == []
    fresh = await db.get_user_session(TG)
    assert (fresh["user"]["total_xp"], await db.get_user_badges(TG)) == (0, [])
