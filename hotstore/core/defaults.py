"""v4's static defaults for a new bot session (the ``bot_sessions`` column defaults of v4).

The values live in :mod:`persistence.defaults` (persistence cannot import hotstore); this module gives
read-only views and the copy functions. Use :func:`default_session` / :func:`default_stats` for a fresh
deep copy you may mutate.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from persistence.defaults import default_session, default_stats

__all__ = ["DEFAULT_SESSION", "DEFAULT_STATS", "default_session", "default_stats"]

# Read-only views of one copy each; mutate a copy from default_session()/default_stats() instead.
DEFAULT_SESSION: Mapping[str, Any] = MappingProxyType(default_session())
DEFAULT_STATS: Mapping[str, Any] = MappingProxyType(default_stats())
