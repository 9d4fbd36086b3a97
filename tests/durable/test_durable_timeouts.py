"""A durable operation (a payment webhook) on a stalled SQL server gives StoreUnavailable within the timeout."""

from __future__ import annotations

import asyncio

import fakeredis
import pytest

from hotstore.core.errors import StoreUnavailable
from hotstore.core.settings import Settings
from hotstore.core.store import HotStore
from hotstore.durable import Payments
from persistence.engine import create_engine
from tests.support.faults import blackhole

HANG_GUARD_S = 60.0  # only stops a test that would hang; it fails it with TimeoutError, not StoreUnavailable


async def test_recording_a_payment_on_a_stalled_sql_server_raises_store_unavailable(namespace: str) -> None:
    async with blackhole() as port:
        engine = create_engine(f"postgresql://postgres@127.0.0.1:{port}/none", timeout=0.5)
        redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
        store = HotStore(Settings(namespace=namespace), redis, engine, owns_redis=True, owns_engine=True)
        payments = Payments(store)
        try:
            record = payments.record(7, provider="yookassa", payment_id="p-1", amount="10", tariff="month")
            with pytest.raises(StoreUnavailable):
                await asyncio.wait_for(record, HANG_GUARD_S)
        finally:
            await store.close()
