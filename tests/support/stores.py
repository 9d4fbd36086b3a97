"""Types of the store fixtures (the fixtures themselves are in tests/conftest.py, used by name)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from hotstore.core.store import HotStore

StoreFactory = Callable[..., Awaitable[HotStore]]
"""``make_store`` / ``make_hot_store``: ``await factory(**settings_changes)`` opens a store, closed after the test."""
