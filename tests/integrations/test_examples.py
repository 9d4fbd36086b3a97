"""The example bots (examples/) play their quiz offline: a fake Bot API, the real frameworks, hotstore underneath."""

from __future__ import annotations

import importlib
import itertools
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from hotstore import HotStore
from hotstore.durable import Badges

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ANSWERS = ["4", "Paris", "42"]
_update_ids = itertools.count(1)


def example(monkeypatch: pytest.MonkeyPatch, name: str) -> ModuleType:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    return importlib.import_module(name)


async def test_the_aiogram_quiz_serves_two_bots_with_xp_badge_leaderboard_and_payment(
        store: HotStore, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("aiogram")
    from aiogram import Bot

    from tests.support.aiogram_fakes import FakeAiogramSession, text_update

    module = example(monkeypatch, "aiogram_quiz")
    tokens = ["7001:TEST", "7002:TEST"]
    names = module.bot_names(tokens)
    dp = module.build_dispatcher(store, names)
    api = FakeAiogramSession()
    bots = [Bot(token, session=api) for token in tokens]

    async def say(bot: Any, user: int, text: str) -> str:
        await dp.feed_update(bot, text_update(next(_update_ids), user, text))
        return api.texts(bot.id, user)[-1]

    for bot in bots:
        for _round in range(2):
            assert (await say(bot, 11, "/quiz")).startswith("Question 1/3")
            for answer in ANSWERS:
                reply = await say(bot, 11, answer)
            assert reply.count("Badge: first win") == (1 if _round == 0 else 0)
        await say(bot, 12, "/quiz")
        await say(bot, 12, "5")  # wrong
        assert "Question 2/3" in api.texts(bot.id, 12)[-1]
        assert (await say(bot, 11, "/top")).splitlines()[0] == "1. user 11: 60 XP"
        assert "completed, 30 days" in await say(bot, 11, "/buy")
    for name in names.values():
        assert await Badges(store).has(11, "first_win", bot_name=name)
        assert (await store.bot(name).get_session(11)).xp == 60
    assert (await store.get_user(11)).total_xp == 120  # type: ignore[union-attr]
    await dp.emit_shutdown()


async def test_the_ptb_quiz_plays_a_persistent_conversation_with_xp_badge_leaderboard_and_payment(
        store: HotStore, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("telegram")
    from telegram import Update

    from tests.support.ptb_fakes import ptb_request_class, ptb_text_update

    module = example(monkeypatch, "ptb_quiz")
    request_class = ptb_request_class()

    async def play(texts: list[str]) -> list[str]:
        request = request_class(8001)
        app = module.build_application(store, "8001:TEST", request=request, updates_request=request_class(8001))
        async with app:
            for text in texts:
                await app.process_update(Update.de_json(ptb_text_update(next(_update_ids), 21, text), app.bot))
        return request.sent[21]

    first = await play(["/quiz", "4"])
    assert first[-1].startswith("Right!") and "Question 2/3" in first[-1]
    rest = await play(["Paris", "42"])  # a restart in the middle of the quiz: the conversation resumes
    assert "Badge: first win" in rest[-1] and "3/3 right" in rest[-1]
    again = await play(["/quiz", "4", "Paris", "42", "/top", "/buy"])
    assert "Badge" not in again[-3]
    assert again[-2] == "1. user 21: 60 XP"
    assert "completed, 30 days" in again[-1]
