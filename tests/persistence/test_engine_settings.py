"""The engine's pool and timeouts come from HOTSTORE_SQL_* (for engines opened without Settings: init_db's)."""

from __future__ import annotations

import pytest

from persistence import engine as sql
from persistence.engine import create_engine

PG = "postgresql://postgres@127.0.0.1:9/none"  # never connected to: these tests only build engines


async def test_pool_size_and_overflow_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTSTORE_SQL_POOL_SIZE", "3")
    monkeypatch.setenv("HOTSTORE_SQL_MAX_OVERFLOW", "0")
    engine = create_engine(PG)
    try:
        assert (engine.pool.size(), engine.pool.overflow()) == (3, -3)  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


async def test_the_pool_checkout_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTSTORE_SQL_TIMEOUT", "2.5")
    engine = create_engine(PG)
    try:
        assert engine.pool.timeout() == 2.5  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


async def test_keyword_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTSTORE_SQL_POOL_SIZE", "3")
    engine = create_engine(PG, pool_size=7, timeout=1.0)
    try:
        assert (engine.pool.size(), engine.pool.timeout()) == (7, 1.0)  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


async def test_the_engine_init_db_opens_honours_the_pool_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTSTORE_SQL_POOL_SIZE", "4")
    monkeypatch.setenv("DATABASE_URL", PG)
    monkeypatch.setattr(sql, "_engine", None)
    engine = sql.get_engine()  # what init_db opens, without connecting
    try:
        assert engine.pool.size() == 4  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
        monkeypatch.setattr(sql, "_engine", None)


@pytest.mark.parametrize("var, raw", [("HOTSTORE_SQL_TIMEOUT", "0"), ("HOTSTORE_SQL_POOL_SIZE", "x"),
                                      ("HOTSTORE_SQL_MAX_OVERFLOW", "-2")])
def test_a_bad_value_is_refused(monkeypatch: pytest.MonkeyPatch, var: str, raw: str) -> None:
    monkeypatch.setenv(var, raw)
    with pytest.raises(ValueError, match=var):
        create_engine(PG)
