"""``hotstore.compat.DatabaseService``: v4's return shapes, and the v4 defects it fixes
(README, "Differences from v4")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from sqlalchemy import select

from hotstore.compat import DatabaseService
from hotstore.core.errors import InvalidInput
from hotstore.core.store import HotStore
from persistence import FreeTrainingSource, SubscriptionType, User, close_db, get_session
from tests.support.servers import delete_keys
from tests.support.stores import StoreFactory
from tests.support.v4_process import v4_process

TG = 777
SCENARIO = {
    "question_types": [{"id": "situational"}, {"id": "problem"}, {"id": "implication"}, {"id": "need_payoff"}],
    "ranking": {"levels": [{"level": 1, "min_xp": 0}, {"level": 2, "min_xp": 501}]},
}


pytestmark = pytest.mark.on_cluster  # the facade runs on the local Redis Cluster too

@pytest.fixture
async def v4_db(
    sql_url: str, redis_url: str | None, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[DatabaseService]:
    """A v4 bot process: environment, ``init_db()``, the facade, ``close_db()``."""
    async with v4_process(monkeypatch, sql_url, redis_url, namespace, bot_name="spin_bot"):
        yield DatabaseService()


async def test_bot_name_comes_from_the_environment(v4_db: DatabaseService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_NAME", "quiz_bot")

    assert DatabaseService().bot_name == "quiz_bot"


async def test_get_user_session_has_v4_keys_and_types(v4_db: DatabaseService) -> None:
    data = await v4_db.get_user_session(TG, "ann", "Ann")

    assert set(data) == {"user", "session", "stats"}
    assert set(data["user"]) == {
        "id", "telegram_id", "username", "first_name", "last_name", "total_xp", "level", "total_trainings",
        "registration_date", "last_activity",
    }
    assert (data["user"]["telegram_id"], data["user"]["username"], data["user"]["level"]) == (TG, "ann", 1)
    assert isinstance(data["user"]["registration_date"], str)
    assert data["session"]["chat_state"] == "new" and data["stats"]["current_level"] == 1


async def test_empty_names_do_not_overwrite_stored_ones(v4_db: DatabaseService) -> None:
    await v4_db.get_user_session(TG, "ann", "Ann")

    data = await v4_db.get_user_session(TG, None, "")

    assert (data["user"]["username"], data["user"]["first_name"]) == ("ann", "Ann")


async def test_reset_session_honours_the_scenario(v4_db: DatabaseService) -> None:
    await v4_db.get_user_session(TG)
    await v4_db.save_session(TG, {"question_count": 7, "chat_state": "training_active"}, {"best_score": 90})

    assert await v4_db.reset_session(TG, SCENARIO) is True

    data = await v4_db.get_user_session(TG)
    assert data["session"]["chat_state"] == "waiting_start"
    assert data["session"]["per_type_counts"] == {"situational": 0, "problem": 0, "implication": 0, "need_payoff": 0}
    assert data["session"]["question_count"] == 0
    assert data["stats"] == {"best_score": 90}


async def test_reset_session_of_an_unknown_user_is_false(v4_db: DatabaseService) -> None:
    assert await v4_db.reset_session(TG) is False
    assert await v4_db.get_user_info(TG) is None


async def test_training_completion_counts_once_and_awards_xp_once(v4_db: DatabaseService) -> None:
    """v4's bot flow: add_xp_and_check_level_up(score), then update_user_stats_after_training(score)."""
    await v4_db.get_user_session(TG)
    await v4_db.add_xp_and_check_level_up(TG, 185, SCENARIO["ranking"]["levels"])

    result = await v4_db.update_user_stats_after_training(TG, 185, SCENARIO)

    info = await v4_db.get_user_info(TG)
    assert info is not None and (info["total_xp"], info["total_trainings"]) == (185, 1)
    assert result == {"leveled_up": False, "old_level": 1, "new_level": 1, "total_xp": 185}


async def test_update_stats_can_award_the_xp_itself(v4_db: DatabaseService) -> None:
    await v4_db.get_user_session(TG)

    result = await v4_db.update_user_stats_after_training(TG, 600, SCENARIO, award_xp=True)

    assert result == {"leveled_up": True, "old_level": 1, "new_level": 2, "total_xp": 600}


async def test_xp_for_an_unknown_user_gives_v4_zeros_and_creates_nothing(v4_db: DatabaseService) -> None:
    result = await v4_db.add_xp_and_check_level_up(TG, 50)

    assert result == {"leveled_up": False, "old_level": 1, "new_level": 1, "total_xp": 0}
    assert await v4_db.get_user_info(TG) is None


async def test_rank_is_a_competition_rank(v4_db: DatabaseService) -> None:
    for tg, xp in ((1, 300), (2, 200), (3, 200), (4, 100)):
        await v4_db.ensure_user_exists(tg)
        await v4_db.add_xp_and_check_level_up(tg, xp)
    await v4_db.ensure_user_exists(5)  # no XP yet

    ranks = [await v4_db.get_user_rank(tg) for tg in (1, 2, 3, 4, 5)]

    assert ranks == [1, 2, 2, 4, 5]
    assert await v4_db.get_user_rank(999) is None


async def test_leaderboard_orders_ties_by_telegram_id(v4_db: DatabaseService) -> None:
    for tg, xp in ((30, 200), (10, 200), (20, 500)):
        await v4_db.ensure_user_exists(tg)
        await v4_db.add_xp_and_check_level_up(tg, xp)

    board = await v4_db.get_leaderboard(limit=10, offset=0)

    assert [(u["telegram_id"], u["total_xp"]) for u in board] == [(20, 500), (10, 200), (30, 200)]
    assert [u["telegram_id"] for u in await v4_db.get_leaderboard(limit=1, offset=1)] == [10]


async def test_access_follows_subscription_then_free_trainings(v4_db: DatabaseService) -> None:
    await v4_db.ensure_user_exists(TG)
    assert await v4_db.check_access(TG) == {"has_access": False, "access_type": None, "details": {}}

    assert await v4_db.add_free_trainings(TG, 2, FreeTrainingSource.CHANNEL) is True
    free = await v4_db.check_access(TG)
    assert await v4_db.create_subscription(TG, SubscriptionType.MONTH, duration_days=30) is True
    paid = await v4_db.check_access(TG)

    assert (free["access_type"], free["details"]) == ("free_trainings", {"trainings_left": 2, "source": "channel"})
    assert paid["access_type"] == "subscription" and paid["details"]["days_left"] in (29, 30)


async def test_consume_access_spends_a_free_training(v4_db: DatabaseService) -> None:
    await v4_db.ensure_user_exists(TG)
    await v4_db.add_free_trainings(TG, 1, FreeTrainingSource.ADMIN)

    assert await v4_db.consume_access(TG) is True
    assert await v4_db.consume_access(TG) is False


async def test_durable_calls_for_an_unknown_user_return_v4_falsy_values(v4_db: DatabaseService) -> None:
    assert await v4_db.award_badge(TG, "spin_master") is False
    assert await v4_db.get_user_badges(TG) == []
    assert await v4_db.create_subscription(TG, SubscriptionType.CREDITS, credits=5) is False
    assert await v4_db.add_free_trainings(TG, 1, FreeTrainingSource.ADMIN) is False
    assert await v4_db.save_training_history(TG, 1, 1, 1, 1) is False
    assert await v4_db.get_user_training_history(TG) == []


async def test_badges_of_this_bot_only(v4_db: DatabaseService) -> None:
    await v4_db.ensure_user_exists(TG)
    await v4_db.award_badge(TG, "spin_master")
    await DatabaseService("quiz_bot").award_badge(TG, "quiz_guru")

    mine = await v4_db.get_user_badges(TG, all_bots=False)
    every = await v4_db.get_user_badges(TG, all_bots=True)

    assert [b["badge_type"] for b in mine] == ["spin_master"]
    assert sorted(b["badge_type"] for b in every) == ["quiz_guru", "spin_master"]


async def test_bad_session_data_raises_before_writing(v4_db: DatabaseService) -> None:
    await v4_db.save_session(TG, {"question_count": 1})

    with pytest.raises(InvalidInput):
        await v4_db.save_session(TG, {"question_count": 2, "when": object()})

    assert (await v4_db.get_user_session(TG))["session"] == {"question_count": 1}


async def test_close_db_writes_hot_state_back_to_sql(v4_db: DatabaseService) -> None:
    await v4_db.get_user_session(TG)
    await v4_db.add_xp_and_check_level_up(TG, 120)
    await v4_db.update_user_stats_after_training(TG, 120)

    await close_db()
    async with get_session() as session:
        user = (await session.execute(select(User).where(User.telegram_id == TG))).scalar_one()

    assert (user.total_xp, user.level, user.total_trainings, user.total_score) == (120, 2, 1, 120)


async def test_the_facade_follows_the_store_it_is_given(make_store: StoreFactory, namespace: str) -> None:
    other = f"{namespace}b"
    first = await make_store()
    second = await HotStore.open(replace(first.settings, namespace=other), redis=first.redis, engine=first.engine)
    current = [first]

    class Switching(DatabaseService):
        async def _store(self) -> HotStore:
            return current[0]

    service = Switching("spin_bot")
    try:
        await service.save_session(TG, {"where": "first"}, {})
        current[0] = second  # e.g. the process-wide store was closed and opened again
        assert (await service.get_user_session(TG))["session"] != {"where": "first"}  # a new user in the new store
        await service.save_session(TG, {"where": "second"}, {})
        service.bot_name = "quiz_bot"
        await service.save_session(TG, {"where": "quiz"}, {})
        assert (await first.bot("spin_bot").get_session(TG)).session == {"where": "first"}
        assert (await second.bot("spin_bot").get_session(TG)).session == {"where": "second"}
        assert (await second.bot("quiz_bot").get_session(TG)).session == {"where": "quiz"}
    finally:
        await delete_keys(second.redis, other)
        await second.close()
