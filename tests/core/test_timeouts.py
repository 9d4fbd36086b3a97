"""A stalled or partitioned Redis or SQL server gives StoreUnavailable within the timeout, never a hang.

The servers here are blackholes (tests/support/faults.py): they accept connections and never answer, as a
partitioned host does. ``HANG_GUARD_S`` only stops a test that would otherwise hang: it fails such a test with
``TimeoutError``, which is not the ``StoreUnavailable`` asserted.
"""

from __future__ import annotations

import asyncio

import fakeredis
import pytest

from hotstore.core.errors import InvalidInput, StoreUnavailable
from hotstore.core.redis_client import connect
from hotstore.core.settings import Settings
from hotstore.core.store import HotStore
from persistence.engine import create_engine
from tests.support.faults import blackhole

HANG_GUARD_S = 60.0
SHORT_S = 0.5


async def test_a_hot_path_call_on_a_stalled_redis_raises_store_unavailable(namespace: str) -> None:
    async with blackhole() as port:
        settings = Settings(redis_url=f"redis://127.0.0.1:{port}/0", namespace=namespace, redis_timeout=SHORT_S)
        client = connect(settings)
        store = HotStore(settings, client, create_engine("sqlite+aiosqlite://"), owns_redis=True, owns_engine=True)
        try:
            with pytest.raises(StoreUnavailable):
                await asyncio.wait_for(store.bot("spin_bot").add_xp(1, 5), HANG_GUARD_S)
        finally:
            await store.close()


async def test_an_auto_pipelined_call_on_a_stalled_redis_raises_store_unavailable(namespace: str) -> None:
    async with blackhole() as port:
        settings = Settings(redis_url=f"redis://127.0.0.1:{port}/0", namespace=namespace, redis_timeout=SHORT_S,
                            autopipeline=True)
        store = HotStore(settings, connect(settings), create_engine("sqlite+aiosqlite://"), owns_redis=True,
                         owns_engine=True)
        try:
            with pytest.raises(StoreUnavailable):
                await asyncio.wait_for(store.bot("spin_bot").add_xp(1, 5), HANG_GUARD_S)
        finally:
            await store.close()


async def test_a_first_contact_on_a_stalled_sql_server_raises_store_unavailable(namespace: str) -> None:
    async with blackhole() as port:
        engine = create_engine(f"postgresql://postgres@127.0.0.1:{port}/none", timeout=SHORT_S)
        redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
        store = HotStore(Settings(namespace=namespace), redis, engine, owns_redis=True, owns_engine=True)
        try:
            with pytest.raises(StoreUnavailable):  # the user is not in Redis: read-through from SQL
                await asyncio.wait_for(store.bot("spin_bot").get_session(7), HANG_GUARD_S)
        finally:
            await store.close()


def test_timeouts_and_pool_size_are_read_from_the_environment() -> None:
    env = {"HOTSTORE_REDIS_TIMEOUT": "1.5", "HOTSTORE_SQL_TIMEOUT": "2.5", "HOTSTORE_SQL_POOL_SIZE": "3",
           "HOTSTORE_SQL_MAX_OVERFLOW": "0"}
    settings = Settings.from_env(env)
    assert (settings.redis_timeout, settings.sql_timeout, settings.sql_pool_size, settings.sql_max_overflow) == (
        1.5, 2.5, 3, 0)


@pytest.mark.parametrize("var, raw", [("HOTSTORE_REDIS_TIMEOUT", "0"), ("HOTSTORE_SQL_TIMEOUT", "-1"),
                                      ("HOTSTORE_SQL_POOL_SIZE", "0"), ("HOTSTORE_SQL_POOL_SIZE", "many"),
                                      ("HOTSTORE_SQL_MAX_OVERFLOW", "-1")])
def test_a_bad_timeout_or_pool_size_is_invalid_input(var: str, raw: str) -> None:
    with pytest.raises(InvalidInput):
        Settings.from_env({var: raw})
