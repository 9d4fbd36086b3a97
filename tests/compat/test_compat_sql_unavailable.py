"""The v4 facade raises StoreUnavailable, not a raw DBAPIError, when PostgreSQL says "too many clients"
(issue 12, finding 8: four bot processes with the default pool exhausted the server)."""

from __future__ import annotations

from contextlib import suppress

import pytest

from hotstore.compat import DatabaseService
from hotstore.core.errors import StoreUnavailable
from persistence import close_db
from tests.support.pg_refusing import too_many_clients_server


@pytest.mark.parametrize("call", ["get_user_session", "get_user_badges"])
async def test_too_many_clients_is_store_unavailable_from_the_facade(
    monkeypatch: pytest.MonkeyPatch, namespace: str, call: str
) -> None:
    async with too_many_clients_server() as url:
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.setenv("HOTSTORE_NAMESPACE", namespace)
        monkeypatch.delenv("REDIS_URL", raising=False)
        try:
            with pytest.raises(StoreUnavailable, match="too many clients"):
                await getattr(DatabaseService("spin_bot"), call)(5)
        finally:
            with suppress(StoreUnavailable):  # close_db's final flush cannot reach SQL either: typed, too
                await close_db()
