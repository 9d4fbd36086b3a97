"""aiogram's own storage contract (``TestStorages`` of its sdist), unmodified, against ``HotstoreStorage``.

Parametrised over fakeredis and a real Redis (``redis_url``), SQLite and PostgreSQL (``sql_url``), and two keys
(``storage_key``): aiogram's own group-chat key (a bot document) and a private-chat key (the user's bot session).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

pytest.importorskip("aiogram")

from aiogram.fsm.storage.base import StorageKey

from hotstore import HotStore
from hotstore.integrations.aiogram import HotstoreStorage
from tests.support.aiogram_contract import contract_suite

_SUITE = contract_suite().TestStorages
BOT_ID = 42_0001


@pytest.fixture
async def storage(request: pytest.FixtureRequest, store: HotStore) -> AsyncIterator[HotstoreStorage]:
    """``HotstoreStorage`` (the indirect parameter names it) on ``store``: fakeredis or a real Redis."""
    assert request.param == "hotstore_storage"
    adapter = HotstoreStorage(store, bot_name="contract_bot")
    yield adapter
    await adapter.close()
    await adapter.close()  # idempotent: several dispatchers may share one store


@pytest.fixture(params=["group", "private"])
def storage_key(request: pytest.FixtureRequest) -> StorageKey:
    """aiogram's own key (chat -42, user 42: a bot document), and the user's private chat (their bot session)."""
    chat_id = -42 if request.param == "group" else 42
    return StorageKey(chat_id=chat_id, user_id=42, bot_id=BOT_ID)


@pytest.mark.parametrize("storage", ["hotstore_storage"], indirect=True)
class TestHotstoreStorageContract:
    test_set_state = _SUITE.test_set_state
    test_set_data = _SUITE.test_set_data
    test_update_data = _SUITE.test_update_data
