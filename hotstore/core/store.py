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

import copy
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.core import embedded_redis
from hotstore.core.cluster import RedisClient
from hotstore.core.cold_loads import ColdLoads
from hotstore.core.defaults import default_session, default_stats
from hotstore.core.errors import HotstoreError, StoreUnavailable
from hotstore.core.keys import KeyScheme, check_bot_name
from hotstore.core.leaderboard import Leaderboards, award_board_keys
from hotstore.core.legacy_layout import Adoption, LegacyLayout
from hotstore.core.loader import LoadBlocks, Profile
from hotstore.core.profile import UNSET, ProfileArg, profile_for_insert, profile_ops
from hotstore.core.redis_client import connect
from hotstore.core.redis_config import check_redis_config
from hotstore.core.scripts import READ_USER, TOUCH_USER, Lua, Scripts
from hotstore.core.sessions import BotStore
from hotstore.core.settings import Settings
from hotstore.core.sql_errors import sql_reachable
from hotstore.core.state import LevelUp, PatchResult, SessionState, UserState, hash_fields
from hotstore.core.validation import check_document, check_telegram_id
from persistence.clock import now_ms
from persistence.engine import create_engine, create_tables

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["UNSET", "BotStore", "HotStore", "LevelUp", "PatchResult", "SessionState", "UserState"]

Loader = Callable[[], Awaitable[LoadBlocks | None]]

_LOAD_ATTEMPTS = 3  # a loaded key can vanish again before the script runs (deleted user): retry a little
_AWARD_BOARDS_KEPT = 1024  # (bot, week) pairs whose award board keys are remembered


def _encode_blocks(blocks: LoadBlocks) -> list[Any]:
    args: list[Any] = [len(blocks)]
    for index, fields in blocks:
        args.extend((index, len(fields)))
        for name, value in fields.items():
            args.extend((name, value))
    return args


class HotStore:
    """Users, sessions, XP and leaderboards of one namespace. Open with :meth:`open`; one per process."""

    def __init__(self, settings: Settings, redis: RedisClient, engine: AsyncEngine, *,
                 owns_redis: bool = False, owns_engine: bool = False, holds_embedded_server: bool = False) -> None:
        self.settings = settings
        self.redis = redis
        self.engine = engine
        self.keys: KeyScheme = settings.keys
        self.scripts = Scripts(redis)
        self.leaderboards = Leaderboards(redis, self.keys, self.scripts)
        self.cold_loads = ColdLoads(engine, documents_for=self.session_defaults)  # batched, single-flight
        # the single-tag layout of hotstore <= 0.4 as a tier between Redis and SQL until the upgrade is over
        self.legacy = LegacyLayout(redis, self.scripts, self.keys, settings.idle_ttl, settings.weekly_board_weeks)
        self._owns_redis = owns_redis
        self._owns_engine = owns_engine
        self._session_defaults: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self._holds_embedded_server = holds_embedded_server  # released (the last one stops it) on close
        self._award_boards: dict[tuple[str, str], list[str]] = {}

    def award_boards(self, bot_name: str, week: str) -> list[str]:
        """:func:`~hotstore.core.leaderboard.award_board_keys` of this store's client, remembered per bot and week
        (the award path asks on every message; a handful of bots, one week at a time)."""
        boards = self._award_boards.get((bot_name, week))
        if boards is None:
            if len(self._award_boards) >= _AWARD_BOARDS_KEPT:
                self._award_boards.clear()
            boards = self._award_boards[(bot_name, week)] = award_board_keys(self.redis, self.keys, bot_name, week)
        return boards

    @classmethod
    async def open(cls, settings: Settings | None = None, *, redis: RedisClient | None = None,
                   engine: AsyncEngine | None = None, metrics: CollectorRegistry | bool | None = None) -> HotStore:
        """Open a store (``settings`` None → :meth:`Settings.from_env`).

        A client or engine passed in is used and left open by :meth:`close`; an engine the store creates
        itself gets the missing SQL tables created. ``metrics`` (a ``prometheus_client.CollectorRegistry``, or
        ``True`` for the default one) counts and times every call (:mod:`hotstore.core.telemetry`); without it
        the calls are the plain methods.
        On a real Redis, an evicting ``maxmemory-policy`` (``allkeys-*``) raises
        :class:`~hotstore.core.errors.UnsafeRedisConfig` (it would lose acknowledged writes); nothing is opened then.
        """
        settings = settings or Settings.from_env()
        registry = None
        if metrics is not None and metrics is not False:  # checked before anything is opened
            from hotstore.core.telemetry import instrument, resolve_registry

            registry = resolve_registry(metrics)
        owns_redis = redis is None
        client = redis if redis is not None else connect(settings)
        try:
            await check_redis_config(client)
        except BaseException:
            if owns_redis:
                await client.aclose()
            raise
        owns_engine = engine is None
        if engine is None:
            engine = create_engine(settings.database_url, **settings.engine_options())
            try:
                async with sql_reachable():
                    await create_tables(engine)
            except BaseException:
                await engine.dispose()
                if owns_redis:
                    await client.aclose()
                raise
        holds_server = owns_redis and settings.embedded_redis and settings.embedded_backend == "server"
        if holds_server:
            embedded_redis.acquire()  # the private redis-server child, started on first use
        store = cls(settings, client, engine, owns_redis=owns_redis, owns_engine=owns_engine,
                    holds_embedded_server=holds_server)
        try:
            await store.legacy.probe()  # once per store: single-tag keys left? (none: the marker is set)
        except StoreUnavailable:
            pass  # Redis out of reach: the first miss asks again (a store opens without Redis, its calls raise)
        if registry is not None:
            instrument(store, registry)
        return store

    async def close(self) -> None:
        """Close the client and engine this store opened (not those passed to :meth:`open`)."""
        if self._owns_redis:
            await self.redis.aclose()
        if self._owns_engine:
            await self.engine.dispose()
        if self._holds_embedded_server:
            self._holds_embedded_server = False
            embedded_redis.release()  # the last store of the process stops the child

    async def __aenter__(self) -> HotStore:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    def set_session_defaults(self, bot_name: str, session_data: Mapping[str, Any],
                             stats_data: Mapping[str, Any] | None = None) -> None:
        """The documents a session of ``bot_name`` starts with when this store creates it (first contact), instead of
        v4's defaults; ``stats_data`` None → ``{}``. The framework integrations set ``{}`` for their bots, so
        the framework's data and the session are one document from the start."""
        check_bot_name(bot_name)
        self._session_defaults[bot_name] = (check_document("session_data", session_data),
                                            check_document("stats_data", stats_data or {}))

    def session_defaults(self, bot_name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Fresh copies of the documents a new session of ``bot_name`` gets (v4's defaults unless set)."""
        chosen = self._session_defaults.get(bot_name)
        if chosen is None:
            return default_session(), default_stats()
        return copy.deepcopy(chosen[0]), copy.deepcopy(chosen[1])

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
            fields = await self.cold_loads.user(telegram_id, create=True, profile=profile)
            return [(1, fields)] if fields is not None else None

        args = [telegram_id, *ops, self.settings.activity_resolution * 1000]
        reply = await self.run_script(TOUCH_USER, [key, self.keys.user_dirty_set(telegram_id)], args, load)
        assert reply is not None
        return UserState.from_hash(hash_fields(reply[1]))

    def user_loader(self, telegram_id: int, *, create: bool) -> Loader:
        """The read-through loader of a script whose first key is the user hash: the user's row from SQL
        (inserted first if ``create``), or None when the user is unknown."""

        async def load() -> LoadBlocks | None:
            fields = await self.cold_loads.user(telegram_id, create=create, profile=Profile())
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

        While a namespace still holds keys of the single-tag layout, a MISS first adopts the script's entities
        from there (:mod:`hotstore.core.legacy_layout`) and runs the script again; only what is still missing is
        loaded from SQL. A warm call, and any call once the upgrade is over, pays nothing for it.

        Raises :class:`InvalidInput` on an ``ERR`` reply (the script wrote nothing) and
        :class:`StoreUnavailable` when Redis cannot be reached.
        """
        blocks: LoadBlocks = []
        adoption: Adoption | None = None
        adopt = not self.legacy.done
        for _ in range(_LOAD_ATTEMPTS + 2):
            ttl = self.settings.idle_ttl * 1000
            # a warm call has no load blocks: their count, 0, without building the list
            call_args = [now_ms(), ttl, *_encode_blocks(blocks), *args] if blocks else [now_ms(), ttl, 0, *args]
            reply = await self.scripts.tagged(lua, keys, call_args)
            if reply is not None:
                return reply
            if adopt:
                adopt = False
                adoption = await self.legacy.adopt_keys(keys)
                if adoption is not None and adoption.found:
                    blocks = []
                    continue  # the adopted hashes are in place: run the script on them
            loaded = await load()
            if loaded is None:
                return None
            blocks = self.legacy.continue_week(loaded, keys, adoption)
        raise HotstoreError(f"{lua.name}: {keys[0]} vanished again after {_LOAD_ATTEMPTS} loads from SQL")
