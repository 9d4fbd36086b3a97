"""Fuzzing every public call: the only error is InvalidInput, and a refused call leaves every key of the
namespace exactly as it was (invariant 9). Users are warm (in Redis) so every refusal is a pure refusal;
see the report of issue 3 for the cold case."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotstore import Board, HotStore, InvalidInput
from tests.support.dumps import redis_dump
from tests.support.stores import StoreFactory

KNOWN = [11, 12]
BOTS = ["spin", "quiz"]

anything = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5), st.binary(max_size=3))
json_like = st.recursive(
    anything,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4) | st.integers(), inner, max_size=3),
    max_leaves=8,
)
documents = st.dictionaries(st.text(max_size=6), json_like, max_size=4) | json_like
telegram_ids = st.sampled_from(KNOWN) | st.integers(min_value=2**63) | st.integers(max_value=-(2**63) - 1) | anything
names = st.sampled_from([None, "", "ann"]) | st.text(max_size=300) | st.integers()
increments = st.dictionaries(st.text(max_size=6) | st.integers(), st.integers() | anything, max_size=3) | anything
keys_lists = st.lists(st.text(max_size=6) | st.integers(), max_size=3) | st.text(max_size=3) | anything
amounts = st.integers(min_value=-(10**13), max_value=10**13) | anything
levels = st.none() | st.lists(st.fixed_dictionaries({"level": st.integers() | anything,
                                                     "min_xp": st.integers() | anything}), max_size=3) | anything
boards = st.sampled_from([None, Board.global_(), Board.bot("spin"), Board.week()]) | st.text(max_size=3)
bot_names = st.sampled_from(BOTS) | st.text(max_size=60) | st.integers() | st.none()

Call = Callable[[HotStore], Coroutine[Any, Any, Any]]


def calls() -> st.SearchStrategy[Call]:
    """Any public call, with arguments that may be valid or not."""
    def bot_call(method: str, **kwargs: st.SearchStrategy[Any]) -> st.SearchStrategy[Call]:
        return st.builds(lambda name, tg, kw: lambda s: getattr(s.bot(name), method)(tg, **kw),
                         bot_names, telegram_ids, st.fixed_dictionaries(kwargs))

    def store_call(method: str, **kwargs: st.SearchStrategy[Any]) -> st.SearchStrategy[Call]:
        return st.builds(lambda tg, kw: lambda s: getattr(s, method)(tg, **kw), telegram_ids,
                         st.fixed_dictionaries(kwargs))

    def board_call(method: str, *, with_user: bool, **kwargs: st.SearchStrategy[Any]) -> st.SearchStrategy[Call]:
        if with_user:
            return st.builds(lambda tg, b, kw: lambda s: getattr(s.leaderboards, method)(tg, b, **kw),
                             telegram_ids, boards, st.fixed_dictionaries(kwargs))
        return st.builds(lambda b, kw: lambda s: getattr(s.leaderboards, method)(b, **kw),
                         boards, st.fixed_dictionaries(kwargs))

    return st.one_of(
        bot_call("get_session", username=names, first_name=names, last_name=names),
        bot_call("save_session", session_data=documents, stats_data=st.none() | documents),
        bot_call("patch_session", session=st.none() | documents, stats=st.none() | documents,
                 incr_session=st.none() | increments, incr_stats=st.none() | increments,
                 unset_session=keys_lists, unset_stats=keys_lists),
        bot_call("reset_session", session_data=st.none() | documents, keep_stats=st.booleans() | anything),
        bot_call("add_xp", amount=amounts, levels=levels),
        store_call("get_user"),
        store_call("ensure_user", username=names, first_name=names, last_name=names),
        store_call("user_id"),
        board_call("page", with_user=False, limit=st.integers(-2, 1002) | anything,
                   offset=st.integers(-2, 10) | anything),
        board_call("count", with_user=False),
        board_call("rank", with_user=True),
        board_call("competition_rank", with_user=True),
        board_call("score", with_user=True),
        board_call("around", with_user=True, radius=st.integers(-2, 200) | anything),
    )


@pytest.fixture
async def warm_store(make_hot_store: StoreFactory) -> HotStore:
    """A Redis-axis store (documents capped at 2000 bytes) whose known users are warm in every bot."""
    hot = await make_hot_store(max_document_bytes=2000)
    for telegram_id in KNOWN:
        for bot in BOTS:
            await hot.bot(bot).add_xp(telegram_id, 150)
    return hot


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(call=calls())
async def test_a_refused_call_raises_invalid_input_and_writes_nothing(
    warm_store: HotStore, redis_client: aioredis.Redis, namespace: str, call: Call
) -> None:
    before = await redis_dump(redis_client, namespace)
    try:
        await call(warm_store)
    except InvalidInput:
        assert await redis_dump(redis_client, namespace) == before
