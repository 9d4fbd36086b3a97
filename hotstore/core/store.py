"""The hot store: users, bot sessions and XP in Redis, read through from SQL, written back by the workers.

Every call is one Lua script (one round trip) when the entities are in Redis; a cold call is two round
trips plus one SQL transaction (docs/design.md, "Read-through")::

    async with await HotStore.open() as store:
        bot = store.bot("spin_bot")
        state = await bot.get_session(42, username="ann")
        await bot.patch_session(42, incr_session={"question_count": 1})
        outcome = await bot.add_xp(42, 25)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core.errors import HotstoreError
from hotstore.core.keys import KeyScheme, check_bot_name
from hotstore.core.leaderboard import Leaderboards
from hotstore.core.loader import LoadBlocks, Profile, load_user
from hotstore.core.profile import UNSET, ProfileArg, profile_for_insert, profile_ops
from hotstore.core.redis_client import connect
from hotstore.core.scripts import READ_USER, TOUCH_USER, Lua, Scripts
from hotstore.core.sessions import BotStore
from hotstore.core.settings import Settings
from hotstore.core.state import LevelUp, PatchResult, SessionState, UserState, hash_fields
from hotstore.core.validation import check_telegram_id
from persistence.clock import now_ms
from persistence.engine import create_engine, create_tables

__all__ = ["UNSET", "BotStore", "HotStore", "LevelUp", "PatchResult", "SessionState", "UserState"]

Loader = Callable[[], Awaitable[LoadBlocks | None]]

_LOAD_ATTEMPTS = 3  # a loaded key can vanish again before the script runs (deleted user): retry a little


def _encode_blocks(blocks: LoadBlocks) -> list[Any]:
    args: list[Any] = [len(blocks)]
    for index, fields in blocks:
        args.extend((index, len(fields)))
        for name, value in fields.items():
            args.extend((name, value))
    return args


class HotStore:
    """Users, sessions, XP and leaderboards of one namespace. Open with :meth:`open`; one per process."""

    def __init__(self, settings: Settings, redis: aioredis.Redis, engine: AsyncEngine, *,
                 owns_redis: bool = False, owns_engine: bool = False) -> None:
        self.settings = settings
        self.redis = redis
        self.engine = engine
        self.keys: KeyScheme = settings.keys
        self.scripts = Scripts(redis)
        self.leaderboards = Leaderboards(redis, self.keys, self.scripts)
        self._owns_redis = owns_redis
        self._owns_engine = owns_engine

    @classmethod
    async def open(cls, settings: Settings | None = None, *, redis: aioredis.Redis | None = None,
                   engine: AsyncEngine | None = None) -> HotStore:
        """Open a store (``settings`` None → :meth:`Settings.from_env`).

        A client or engine passed in is used and left open by :meth:`close`; an engine the store creates
        itself gets the missing SQL tables created.
        """
        settings = settings or Settings.from_env()
        owns_engine = engine is None
        if engine is None:
            engine = create_engine(settings.database_url, **settings.engine_options())
            await create_tables(engine)
        owns_redis = redis is None
        return cls(settings, redis if redis is not None else connect(settings), engine,
                   owns_redis=owns_redis, owns_engine=owns_engine)

    async def close(self) -> None:
        """Close the client and engine this store opened (not those passed to :meth:`open`)."""
        if self._owns_redis:
            await self.redis.aclose()
        if self._owns_engine:
            await self.engine.dispose()

    async def __aenter__(self) -> HotStore:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    def bot(self, bot_name: str | None = None) -> BotStore:
        """The handle of one bot (``None`` → ``settings.bot_name``)."""
        return BotStore(self, check_bot_name(self.settings.bot_name if bot_name is None else bot_name))

    async def get_user(self, telegram_id: int) -> UserState | None:
        """The user, read through from SQL; None if unknown (never creates)."""
        return await self._read_user(check_telegram_id(telegram_id), create=False)

    async def user_id(self, telegram_id: int) -> int:
        """The user's SQL ``users.id``, creating the user if absent (for durable operations)."""
        user = await self._read_user(check_telegram_id(telegram_id), create=True)
        assert user is not None
        return user.id

    async def ensure_user(self, telegram_id: int, *, username: ProfileArg = UNSET,
                          first_name: ProfileArg = UNSET, last_name: ProfileArg = UNSET) -> UserState:
        """Create or touch a user, as v4's ``get_or_create``: names change when a new non-empty value differs
        (``None`` clears a name, ``UNSET`` leaves it), ``last_activity`` moves at ``activity_resolution``."""
        check_telegram_id(telegram_id)
        ops = profile_ops(username, first_name, last_name)
        profile = profile_for_insert(username, first_name, last_name)
        key = self.keys.user(telegram_id)

        async def load() -> LoadBlocks | None:
            fields = await load_user(self.engine, telegram_id, create=True, profile=profile)
            return [(1, fields)] if fields is not None else None

        args = [telegram_id, *ops, self.settings.activity_resolution * 1000]
        reply = await self.run_script(TOUCH_USER, [key, self.keys.dirty_users], args, load)
        assert reply is not None
        return UserState.from_hash(hash_fields(reply[1]))

    def user_loader(self, telegram_id: int, *, create: bool) -> Loader:
        """The read-through loader of a script whose first key is the user hash: the user's row from SQL
        (inserted first if ``create``), or None when the user is unknown."""

        async def load() -> LoadBlocks | None:
            fields = await load_user(self.engine, telegram_id, create=create, profile=Profile())
            return [(1, fields)] if fields is not None else None

        return load

    async def _read_user(self, telegram_id: int, *, create: bool) -> UserState | None:
        load = self.user_loader(telegram_id, create=create)
        reply = await self.run_script(READ_USER, [self.keys.user(telegram_id)], [], load)
        return UserState.from_hash(hash_fields(reply[1])) if reply is not None else None

    async def run_script(self, lua: Lua, keys: list[str], args: Sequence[Any], load: Loader) -> list[Any] | None:
        """The read-through loop, the one place it is written: run hot-path script ``lua``; on MISS, ``load()``
        from SQL and run it again with the loaded hashes, which it writes only where still absent (invariant 6).
        Returns the script's reply, or None when ``load()`` found nothing to load.

        Raises :class:`InvalidInput` on an ``ERR`` reply (the script wrote nothing) and
        :class:`StoreUnavailable` when Redis cannot be reached.
        """
        blocks: LoadBlocks = []
        for _ in range(_LOAD_ATTEMPTS + 1):
            call_args = [now_ms(), self.settings.idle_ttl * 1000, *_encode_blocks(blocks), *args]
            reply = await self.scripts.tagged(lua, keys, call_args)
            if reply is not None:
                return reply
            loaded = await load()
            if loaded is None:
                return None
            blocks = loaded
        raise HotstoreError(f"{lua.name}: {keys[0]} vanished again after {_LOAD_ATTEMPTS} loads from SQL")
