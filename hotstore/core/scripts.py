"""Loads the Lua scripts of ``hotstore/scripts/`` and registers them on a client.

Every hot-path script is sent as ``_prelude.lua + <name>.lua`` with the field names ``F.<NAME>`` replaced
by their values from :mod:`hotstore.core.constants` (the single source of hash field names), and the prelude holds
the helpers every write shares (load-if-absent, dirty marking, TTL refresh). Read-only scripts (the
leaderboard's) are loaded with ``prelude=False``.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from hotstore.core import constants as c

PRELUDE = "_prelude.lua"

# Constants exposed to Lua as F.<NAME> (hash field names and prefixes).
_FIELD_CONSTANTS = (
    "USER_ID",
    "USER_TELEGRAM_ID",
    "USER_USERNAME",
    "USER_FIRST_NAME",
    "USER_LAST_NAME",
    "USER_XP",
    "USER_LEVEL",
    "USER_TOTAL_TRAININGS",
    "USER_TOTAL_SCORE",
    "USER_REGISTERED_MS",
    "USER_LAST_ACTIVITY_MS",
    "VERSION",
    "SESSION_USER_ID",
    "SESSION_CREATED_MS",
    "SESSION_UPDATED_MS",
    "SESSION_XP",
    "SESSION_FIELD_PREFIX",
    "STATS_FIELD_PREFIX",
    "DOCUMENT_STATE",
)


def read_lua(name: str) -> str:
    """The text of ``hotstore/scripts/<name>``."""
    return resources.files("hotstore.core").joinpath("lua", name).read_text(encoding="utf-8")


def field_table() -> str:
    """``local F = {USER_XP = 'xp', ...}``: the hash field names, generated from hotstore.core.constants."""
    items = ", ".join(f"{name} = '{getattr(c, name)}'" for name in _FIELD_CONSTANTS)
    return f"local F = {{{items}}}\nlocal EXACT_INT = {c.LUA_EXACT_INT}\n"


_FIELD_REFERENCE = re.compile(r"\bF\.([A-Z_]+)\b")


def inline_fields(text: str) -> str:
    """``F.USER_XP`` → ``'xp'``: the field names as Lua literals, so a call does not build the table ``F``
    (a table constructor of every name, run on every EVALSHA). Raises ValueError on an unknown name."""

    def literal(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in _FIELD_CONSTANTS:
            raise ValueError(f"F.{name} is not a hash field constant (hotstore/scripts.py _FIELD_CONSTANTS)")
        value = str(getattr(c, name))
        if not re.fullmatch(r"[A-Za-z0-9_:]+", value):
            raise ValueError(f"F.{name} = {value!r} cannot be inlined as a Lua literal")
        return f"'{value}'"

    return _FIELD_REFERENCE.sub(literal, text)


@cache
def source(name: str, *, prelude: bool = True) -> str:
    """Full source of script ``name`` (e.g. ``'add_xp.lua'``), with the prelude unless ``prelude=False``.

    With the prelude, the field names ``F.<NAME>`` are inlined as literals (:func:`inline_fields`).
    """
    if not prelude:
        return read_lua(name)
    return f"local EXACT_INT = {c.LUA_EXACT_INT}\n" + inline_fields(read_lua(PRELUDE) + "\n" + read_lua(name))


class Scripts:
    """The hot-path scripts registered on one client; attribute names are the ``.lua`` file stems."""

    NAMES = ("read_user", "touch_user", "touch_session", "save_session", "patch_session", "add_xp", "doc_read",
             "doc_write")

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        # On a pipeline, AsyncScript must register itself with it; on a client, run() sends EVALSHA directly.
        self._direct = not isinstance(redis, Pipeline)
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(source(name + ".lua")) for name in self.NAMES
        }

    def __getitem__(self, name: str) -> AsyncScript:
        return self._scripts[name]

    async def run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """Run script ``name`` (EVALSHA; loads it on a NOSCRIPT reply).

        What ``AsyncScript.__call__`` does, without its per-call import, isinstance check and tuple copies.
        """
        script = self._scripts[name]
        if not self._direct:
            return await script(keys=keys, args=args)
        redis = self._redis
        try:
            return await redis.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)  # type: ignore[no-untyped-call]
        except NoScriptError:
            # the server lost the script (restart, SCRIPT FLUSH, another server): load it and retry once
            script.sha = await redis.script_load(script.script)
            return await redis.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)  # type: ignore[no-untyped-call]
