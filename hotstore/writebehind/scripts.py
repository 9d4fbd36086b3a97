"""The Lua scripts of the workers (``hotstore/scripts/``), registered on one client."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from hotstore.core.scripts import field_table, read_lua


class WorkerScripts:
    """``compare_and_clean``, ``rebuild_chunk``, ``rebuild_swap`` and ``sweep_idle`` on one client."""

    NAMES = ("compare_and_clean", "rebuild_chunk", "rebuild_swap", "sweep_idle")

    def __init__(self, redis: aioredis.Redis) -> None:
        # Each script gets the field table, so it names hash fields as F.VERSION, like the hot path does.
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(field_table() + read_lua(name + ".lua")) for name in self.NAMES
        }

    async def run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """Run script ``name`` (EVALSHA; loads it on a NOSCRIPT reply)."""
        return await self._scripts[name](keys=keys, args=args)
