"""Text SQL cannot hold (NUL, lone surrogates) is refused before anything is written, at any depth, in keys and
values, in documents and profile names (issue 12, finding 1)."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis

from hotstore import HotStore, InvalidInput
from hotstore.core.validation import check_document, check_optional_text, check_text
from tests.support.dumps import redis_dump

POISON = ["a\x00b", "a\ud800b", "\udfff"]


@pytest.mark.parametrize("text", POISON)
def test_a_document_value_sql_cannot_hold_is_refused_naming_its_path(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"session\.deep\.list\[1\]"):
        check_document("session", {"deep": {"list": ["ok", text]}})


@pytest.mark.parametrize("text", POISON)
def test_a_document_key_sql_cannot_hold_is_refused_naming_its_path(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"stats\.outer"):
        check_document("stats", {"outer": {text: 1}})


def test_a_document_value_in_a_tuple_inside_a_mapping_subclass_is_refused() -> None:
    class Doc(dict[str, Any]):
        pass

    with pytest.raises(InvalidInput, match="NUL"):
        check_document("session", Doc(k=("x", "\x00")))


def test_clean_non_ascii_text_is_accepted_by_the_fast_walk() -> None:
    document = {"имя": "Анна 👩‍💻", "list": ["ß", {"κ": "ν"}]}
    assert check_document("session", document) == document


@pytest.mark.parametrize("text", POISON)
def test_a_name_sql_cannot_hold_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="username"):
        check_optional_text("username", text)
    with pytest.raises(InvalidInput, match="badge_type"):
        check_text("badge_type", text, max_length=100)


@pytest.mark.parametrize("text", POISON)
async def test_save_session_with_poison_writes_nothing(
    hot_store: HotStore, redis_client: aioredis.Redis, namespace: str, text: str
) -> None:
    bot = hot_store.bot("spin_bot")
    await bot.get_session(7)
    before = await redis_dump(redis_client, namespace)
    with pytest.raises(InvalidInput, match=r"session_data\.x"):
        await bot.save_session(7, {"x": {"y": text}})
    with pytest.raises(InvalidInput, match="stats_data"):
        await bot.save_session(7, {"x": 1}, {text: 1})
    with pytest.raises(InvalidInput):
        await bot.patch_session(7, session={"k": [text]})
    assert await redis_dump(redis_client, namespace) == before


@pytest.mark.parametrize("field", ["username", "first_name", "last_name"])
async def test_a_lone_surrogate_in_a_profile_name_is_invalid_input_and_writes_nothing(
    hot_store: HotStore, redis_client: aioredis.Redis, namespace: str, field: str
) -> None:
    before = await redis_dump(redis_client, namespace)
    with pytest.raises(InvalidInput, match=field):
        await hot_store.bot("spin_bot").get_session(8, **{field: "ann\ud83d"})
    with pytest.raises(InvalidInput, match=field):
        await hot_store.ensure_user(8, **{field: "x\x00"})
    assert await redis_dump(redis_client, namespace) == before
