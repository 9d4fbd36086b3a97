"""The one registry of hotstore's Lua scripts (``hotstore/core/lua/``): loading, registering, calling, replies.

Every script is named by a :class:`Lua` constant of this module, never by a string, and every caller goes through
:class:`Scripts`, one per client::

    scripts = Scripts(redis)
    reply = await scripts.call(ADD_XP, keys, args)       # raw reply; Redis errors → StoreUnavailable
    payload = await scripts.tagged(ADD_XP, keys, args)   # OK → the reply, MISS → None, ERR → InvalidInput

How a script is built:

- ``F.<NAME>`` in any script stands for a hash field name of :mod:`hotstore.core.constants` and is inlined as a
  Lua literal (no table is built per call); an unknown name fails loudly at load time.
- Hot-path writers (``prelude=True``) are sent as ``_prelude.lua + <name>.lua``: the prelude holds what every
  write shares (load-if-absent of read-through blocks, dirty marking, TTL refresh). Their replies are tagged
  ``OK``/``MISS``/``ERR``, and :meth:`Scripts.tagged` is the one place that parses the tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, OutOfMemoryError

from hotstore.core import constants as c
from hotstore.core.cluster import RedisClient
from hotstore.core.errors import InvalidInput, StoreFull, StoreUnavailable
from hotstore.core.redis_client import UNAVAILABLE_ERRORS

PRELUDE = "_prelude.lua"
OK = b"OK"
MISS = b"MISS"
ERR = b"ERR"


@dataclass(frozen=True, slots=True)
class Lua:
    """One script of ``hotstore/core/lua/``: its file stem, and whether the hot-path prelude goes first."""

    name: str
    prelude: bool = False

    @property
    def file(self) -> str:
        return self.name + ".lua"


# Hot-path writers and readers: prelude, tagged replies.
READ_USER = Lua("read_user", prelude=True)
TOUCH_USER = Lua("touch_user", prelude=True)
TOUCH_SESSION = Lua("touch_session", prelude=True)
SAVE_SESSION = Lua("save_session", prelude=True)
PATCH_SESSION = Lua("patch_session", prelude=True)
ADD_XP = Lua("add_xp", prelude=True)
RECORD_TRAINING = Lua("record_training", prelude=True)
DOC_READ = Lua("doc_read", prelude=True)
DOC_WRITE = Lua("doc_write", prelude=True)
TURN = Lua("turn", prelude=True)  # the exit of bot.turn(): changed keys, increments and XP in one script
# Leaderboard reads.
BOARD_AROUND = Lua("board_around")
BOARD_COMPETITION_RANK = Lua("board_competition_rank")
# Write-behind.
COMPARE_AND_CLEAN = Lua("compare_and_clean")
REBUILD_CHUNK = Lua("rebuild_chunk")
REBUILD_SWAP = Lua("rebuild_swap")
SWEEP_IDLE = Lua("sweep_idle")
EVICT_CLEAN = Lua("evict_clean")
REBASE_VERSION = Lua("rebase_version")
SHARD_LEASES = Lua("shard_leases")  # a flush worker's heartbeat and its share of the shard leases
BOARD_RECHECK_SETTLE = Lua("board_recheck_settle")
# Eviction of a user's hot state (user deletion) and of imported users' clean copies (JSON migration).
DELETE_USER = Lua("delete_user")
JSON_IMPORT_EVICT = Lua("json_import_evict")
# The upgrade from the single-tag layout (hotstore.core.legacy_layout).
LAYOUT_PROBE = Lua("layout_probe")
LEGACY_READ = Lua("legacy_read")
LEGACY_ADOPT = Lua("legacy_adopt")
LEGACY_FORGET = Lua("legacy_forget")

CATALOGUE: tuple[Lua, ...] = (
    READ_USER, TOUCH_USER, TOUCH_SESSION, SAVE_SESSION, PATCH_SESSION, ADD_XP, RECORD_TRAINING, DOC_READ, DOC_WRITE,
    TURN,
    BOARD_AROUND, BOARD_COMPETITION_RANK, COMPARE_AND_CLEAN, REBUILD_CHUNK, REBUILD_SWAP, SWEEP_IDLE,
    EVICT_CLEAN, REBASE_VERSION, SHARD_LEASES, BOARD_RECHECK_SETTLE, DELETE_USER, JSON_IMPORT_EVICT,
    LAYOUT_PROBE, LEGACY_READ, LEGACY_ADOPT, LEGACY_FORGET,
)

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
    "USER_WEEK",
    "USER_WEEK_XP",
    "USER_LAST_TRAINING",
    "USER_RECENT_TRAININGS",
    "VERSION",
    "SESSION_USER_ID",
    "SESSION_CREATED_MS",
    "SESSION_UPDATED_MS",
    "SESSION_XP",
    "SESSION_FIELD_PREFIX",
    "STATS_FIELD_PREFIX",
    "DEFAULT_XP_PER_LEVEL",
    "DEFAULT_MAX_LEVEL",
    "DOCUMENT_STATE",
)
_FIELD_REFERENCE = re.compile(r"\bF\.([A-Z_]+)\b")


def read_lua(file: str) -> str:
    """The text of ``hotstore/core/lua/<file>``."""
    return resources.files("hotstore.core").joinpath("lua", file).read_text(encoding="utf-8")


def inline_fields(text: str) -> str:
    """``F.USER_XP`` → ``'xp'`` (numbers stay numbers). Raises ValueError on an unknown name."""

    def literal(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in _FIELD_CONSTANTS:
            raise ValueError(f"F.{name} is not a constant exposed to Lua (hotstore/core/scripts.py _FIELD_CONSTANTS)")
        value = getattr(c, name)
        if isinstance(value, int):
            return str(value)
        if not re.fullmatch(r"[A-Za-z0-9_:]+", str(value)):
            raise ValueError(f"F.{name} = {value!r} cannot be inlined as a Lua literal")
        return f"'{value}'"

    return _FIELD_REFERENCE.sub(literal, text)


@cache
def source(lua: Lua) -> str:
    """The full text sent to Redis for ``lua``: constants inlined, the prelude first where it has one."""
    body = read_lua(lua.file)
    if lua.prelude:
        body = f"local EXACT_INT = {c.LUA_EXACT_INT}\n" + read_lua(PRELUDE) + "\n" + body
    return inline_fields(body)


class Scripts:
    """Every script of :data:`CATALOGUE`, registered on one client (or pipeline)."""

    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        # On a pipeline, AsyncScript must register itself with it; on a client, call() sends EVALSHA directly.
        self._direct = not isinstance(redis, Pipeline)
        # RedisCluster inherits register_script from the mixin typed for Redis; the script object is the same.
        register = redis.register_script  # type: ignore[misc,unused-ignore]
        self._scripts: dict[Lua, AsyncScript] = {lua: register(source(lua)) for lua in CATALOGUE}

    def script(self, lua: Lua) -> AsyncScript:
        """The registered redis-py script (for callers that queue it on a pipeline of their own)."""
        return self._scripts[lua]

    async def call(self, lua: Lua, keys: list[str], args: list[Any]) -> Any:
        """Run ``lua`` and return its raw reply; EVALSHA, loading the script on a NOSCRIPT reply.

        Raises :class:`StoreUnavailable` when Redis cannot be reached, :class:`StoreFull` when Redis refused the
        script for want of memory. A script is refused at its first memory-growing write when no write of it ran
        before (Redis's rule for scripts without flags), so a refused script wrote nothing: our scripts are
        all-or-nothing under ``maxmemory`` too.
        """
        script = self._scripts[lua]
        try:
            if not self._direct:
                return await script(keys=keys, args=args)
            # What AsyncScript.__call__ does, without its per-call import, isinstance check and tuple copies.
            redis = self._redis
            try:
                return await redis.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)  # type: ignore[no-untyped-call,unused-ignore]
            except NoScriptError:
                # the server lost the script (restart, SCRIPT FLUSH, another server): load it and retry once
                script.sha = await redis.script_load(script.script)
                return await redis.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)  # type: ignore[no-untyped-call,unused-ignore]
        except UNAVAILABLE_ERRORS as exc:
            raise StoreUnavailable(f"Redis unreachable: {exc}") from exc
        except OutOfMemoryError as exc:
            raise StoreFull(
                f"{lua.name}: Redis is full (used memory above maxmemory), nothing was written; the write-behind "
                f"evicts clean idle entities to make room (hotstore status shows memory): {exc}"
            ) from exc

    async def tagged(self, lua: Lua, keys: list[str], args: list[Any]) -> list[Any] | None:
        """Run a hot-path script: its ``OK`` reply (a list, tag first), or None for ``MISS`` (a needed hash is
        absent; nothing was written). An ``ERR`` reply (nothing was written) raises :class:`InvalidInput`."""
        reply: list[Any] = await self.call(lua, keys, args)
        tag = reply[0]
        if tag == OK:
            return reply
        if tag == MISS:
            return None
        detail = [part.decode() if isinstance(part, bytes) else part for part in reply[1:]]
        raise InvalidInput(f"{lua.name} refused: {' '.join(map(str, detail))}")
