"""Badges: awarded once per (user, type, bot) under any concurrency, visible from every bot."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core.errors import InvalidInput
from hotstore.core.store import HotStore
from hotstore.durable import Badges
from persistence.engine import sessionmaker_for
from persistence.repositories.badges import BadgeRepository
from persistence.upsert import ensure_user_id


async def test_first_award_returns_true_and_repeat_returns_false(store: HotStore) -> None:
    badges = Badges(store)
    assert await badges.award(1, "spin_master", bot_name="spin_bot") is True
    assert await badges.award(1, "spin_master", bot_name="spin_bot") is False
    assert await badges.count(1) == 1


async def test_same_badge_in_another_bot_is_a_separate_award(store: HotStore) -> None:
    badges = Badges(store)
    assert await badges.award(1, "first_training", bot_name="spin_bot")
    assert await badges.award(1, "first_training", bot_name="quiz_bot")
    assert await badges.count(1) == 2
    assert await badges.count(1, bot_name="quiz_bot") == 1


async def test_badge_earned_in_one_bot_is_listed_from_all_bots(store: HotStore) -> None:
    await Badges(store).award(1, "quiz_guru", bot_name="quiz_bot", metadata={"score": 185})
    listed = await Badges(store).list(1)
    assert [(b.badge_type, b.earned_in_bot, b.metadata) for b in listed] == [("quiz_guru", "quiz_bot", {"score": 185})]
    assert isinstance(listed[0].earned_at, datetime) and listed[0].earned_at.utcoffset() == timedelta(0)
    assert await Badges(store).has(1, "quiz_guru")
    assert not await Badges(store).has(1, "quiz_guru", bot_name="spin_bot")


async def test_badges_are_listed_newest_first_ties_by_id(store: HotStore) -> None:
    badges = Badges(store)
    for name in ("a", "b", "c"):
        await badges.award(1, name, bot_name="spin_bot")
    # earned_at may be equal within one second: the id breaks the tie, newest first.
    assert [b.badge_type for b in await badges.list(1)] == ["c", "b", "a"]


async def test_badges_of_unknown_user_are_empty(store: HotStore) -> None:
    assert await Badges(store).list(999) == []
    assert await Badges(store).count(999) == 0
    assert not await Badges(store).has(999, "x")


async def test_twenty_concurrent_awards_give_one_true(store: HotStore) -> None:
    await store.user_id(7)
    results = await asyncio.gather(*(Badges(store).award(7, "rare", bot_name="spin_bot") for _ in range(20)))
    assert results.count(True) == 1
    assert await Badges(store).count(7) == 1


async def test_bad_badge_type_is_refused_before_writing(store: HotStore) -> None:
    with pytest.raises(InvalidInput):
        await Badges(store).award(1, "", bot_name="spin_bot")
    with pytest.raises(InvalidInput):
        await Badges(store).award(1, "x", bot_name="bad:bot")
    assert await store.get_user(1) is None


async def test_v4_repository_award_badge_is_idempotent_and_returns_the_row(sql_engine: AsyncEngine) -> None:
    async with sessionmaker_for(sql_engine).begin() as session:
        user_id = await ensure_user_id(session, 5)
        repo = BadgeRepository(session)
        first = await repo.award_badge(user_id, "x", "spin_bot", {"k": 1})
        again = await repo.award_badge(user_id, "x", "spin_bot")
        assert first.id == again.id
        assert await repo.award_badge_by_telegram_id(404, "x", "spin_bot") is None
        assert await repo.count_badges_by_type("x") == 1
        assert [b.id for b in await repo.get_all_badges_by_type("x")] == [first.id]
        assert await repo.get_user_badge_count(5) == 1
        assert await repo.delete_badge(5, "x", "spin_bot") is True
        assert await repo.has_badge(5, "x") is False
