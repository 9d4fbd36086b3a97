"""Levels from XP, as v4 computed them.

The default is ``min(xp // 100 + 1, 100)``. A v4 levels config is a list of ``{"level": n, "min_xp": x}``;
the level is the highest ``level`` whose ``min_xp`` the XP reaches (1 if none). Levels never go down.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hotstore.core.constants import DEFAULT_MAX_LEVEL, DEFAULT_XP_PER_LEVEL, LUA_EXACT_INT
from hotstore.core.errors import InvalidInput


@dataclass(frozen=True)
class LevelTable:
    """Sorted ``(min_xp, level)`` thresholds; empty means the default formula."""

    thresholds: tuple[tuple[int, int], ...] = ()

    @classmethod
    def from_config(cls, config: Iterable[Mapping[str, Any]] | None) -> LevelTable:
        """Build from v4's ``levels_config`` (``None`` or ``[]`` → default formula)."""
        if config is None:
            return cls()
        if isinstance(config, (str, bytes, Mapping)) or not isinstance(config, Iterable):
            raise InvalidInput(f"levels_config must be a list of dicts or None, not {type(config).__name__}")
        pairs: list[tuple[int, int]] = []
        for entry in config:
            if not isinstance(entry, Mapping):
                raise InvalidInput(f"levels_config entries must be dicts: {entry!r}")
            level, min_xp = entry.get("level"), entry.get("min_xp", 0)
            for name, value in (("level", level), ("min_xp", min_xp)):
                if not isinstance(value, int) or isinstance(value, bool) or abs(value) > LUA_EXACT_INT:
                    raise InvalidInput(f"levels_config {name} must be an int: {entry!r}")
            assert isinstance(level, int) and isinstance(min_xp, int)
            pairs.append((min_xp, level))
        return cls(tuple(sorted(pairs)))

    def level_for(self, xp: int) -> int:
        if not self.thresholds:
            return min(xp // DEFAULT_XP_PER_LEVEL + 1, DEFAULT_MAX_LEVEL)
        reached = [level for min_xp, level in self.thresholds if xp >= min_xp]
        return max(reached) if reached else 1

    def as_script_args(self) -> list[int]:
        """Flattened for a Lua script: ``[n, min_xp1, level1, ..., min_xpn, leveln]`` (n=0: default formula)."""
        flat: list[int] = [len(self.thresholds)]
        for min_xp, level in self.thresholds:
            flat.extend((min_xp, level))
        return flat
