"""``Turn``: one message's work on one user in one bot, in two round trips (one read, one write)::

    async with bot.turn(42, username="ann", first_name="Ann") as turn:
        turn.session["chat_state"] = "training_active"
        turn.incr_session("question_count")
        turn.add_xp(10, levels=LEVELS)
    if turn.level_up and turn.level_up.leveled_up:
        ...

Entering reads the user and the session in one script (read-through from SQL on a miss, creating both on first
contact, as :meth:`BotStore.get_session`). ``turn.user``, ``turn.session`` and ``turn.stats`` are plain values to
read; the documents are dicts to change in place. Leaving the block runs one script (``turn.lua``) that writes
only what changed since the read: each top-level key set or deleted, each explicit increment, and the XP award with
level and leaderboards; a block without changes writes nothing and makes no round trip. An exception inside the
block writes nothing.

Concurrency: two turns of one user that change different top-level keys both keep their changes (only changed keys
are written). For the same key, the turn that leaves last wins, as with two :meth:`BotStore.patch_session` calls;
increments (:meth:`Turn.incr_session`, :meth:`Turn.incr_stats`) are applied atomically and never lost.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

from hotstore.core import constants as c
from hotstore.core import scripts
from hotstore.core.codec import encode_document, encode_value
from hotstore.core.errors import InvalidInput
from hotstore.core.keys import board_member, current_week, session_member
from hotstore.core.leaderboard import write_award_scores
from hotstore.core.levels import LevelTable
from hotstore.core.loader import Profile
from hotstore.core.profile import UNSET, ProfileArg
from hotstore.core.state import LevelUp, UserState, hash_fields, session_reply
from hotstore.core.validation import check_document, check_int, check_telegram_id

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from hotstore.core.sessions import BotStore

__all__ = ["Turn"]



_SCALARS = frozenset({int, str, float, bool, type(None)})  # immutable: unchanged when equal and of the same type


class _Snapshot:
    """A document as read on entering: its values (a shallow copy) and the encodings of its containers, which
    a handler may change in place (scalars are compared by value, containers by encoding). ``encodings`` are the
    containers' encodings as read from Redis (no second encoding on entering); without them, each container is
    encoded here."""

    def __init__(self, document: Mapping[str, Any], encodings: dict[str, bytes] | None = None) -> None:
        self.values = dict(document)
        if encodings is None:
            encodings = {key: encode_value(value) for key, value in document.items() if type(value) not in _SCALARS}
        self.containers = encodings  # session_reply gives the encoding of every list and dict it decoded

    def changed(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """The top-level keys of ``document`` that differ from the snapshot (new keys included)."""
        out: dict[str, Any] = {}
        values, containers, missing = self.values, self.containers, object()
        for key, value in document.items():
            before = values.get(key, missing)
            kind = type(value)
            if kind in _SCALARS:
                if before is value:  # the very object read (most keys of most messages): unchanged
                    continue
                if before is missing or type(before) is not kind or before != value:
                    out[key] = value
            elif key not in containers or containers[key] != encode_value(value):
                out[key] = value
        return out

    def deleted(self, document: dict[str, Any]) -> list[str]:
        if self.values.keys() <= document.keys():  # every key read is still there (most messages)
            return []
        return [key for key in self.values if key not in document]


_NOTHING_READ = _Snapshot({})  # before entering (never changed: a snapshot is only read)
_DEFAULT_LEVELS = LevelTable()  # the default formula (immutable)
_DEFAULT_LEVEL_ARGS = tuple(_DEFAULT_LEVELS.as_script_args())
_NO_PATCH = (0, 0, 0)  # no sets, increments or deletes
_NO_PROFILE = Profile()  # the load on exit creates no user row of its own (entering did): no names


class Turn:
    """The work of one message on one user in one bot (see the module docstring). Get one from
    :meth:`BotStore.turn` and use it as ``async with``."""

    def __init__(self, bot: BotStore, telegram_id: int, *, username: ProfileArg = UNSET,
                 first_name: ProfileArg = UNSET, last_name: ProfileArg = UNSET) -> None:
        check_telegram_id(telegram_id)
        self._bot = bot
        self.telegram_id = telegram_id
        self._profile = (username, first_name, last_name)
        self._keys = bot.store.keys.turn_keys(bot.name, telegram_id)  # KEYS[1..5] of both scripts
        self._user: UserState | None = None
        self._user_hash: list[bytes] | None = None  # the user hash as read, decoded on first use of .user
        self.session: dict[str, Any] = {}
        self.stats: dict[str, Any] = {}
        self.xp = 0  # XP earned in this bot, as read on entering
        self.version = 0  # the session's version: as read, then as written on leaving
        self.level_up: LevelUp | None = None  # the XP award's outcome, known after leaving
        self._original: tuple[_Snapshot, _Snapshot] = (_NOTHING_READ, _NOTHING_READ)
        self._increments: dict[str, int] = {}
        self._xp: int | None = None
        self._levels = _DEFAULT_LEVELS
        self._entered = False

    async def __aenter__(self) -> Turn:
        if self._entered:
            raise InvalidInput("a Turn is entered once; start a new bot.turn() per message")
        self._entered = True
        reply = await self._bot._touch_checked(self.telegram_id, *self._profile, script_keys=self._keys)
        encodings: tuple[dict[str, bytes], dict[str, bytes]] = ({}, {})
        self.session, self.stats, meta = session_reply(reply[2], encodings)
        self._user_hash = reply[1]
        xp, version = meta.get(c.SESSION_XP), meta.get(c.VERSION)
        self.xp = int(xp) if xp is not None else 0
        self.version = int(version) if version is not None else 0
        self._original = (_Snapshot(self.session, encodings[0]), _Snapshot(self.stats, encodings[1]))
        return self

    @property
    def user(self) -> UserState | None:
        """The user as read on entering (None before); decoded when first asked for (most messages never do)."""
        if self._user is None and self._user_hash is not None:
            self._user = UserState.from_hash(hash_fields(self._user_hash))
        return self._user

    def incr_session(self, key: str, delta: int = 1) -> None:
        """Add ``delta`` to the integer ``session[key]`` on leaving, atomically (a missing key starts at 0);
        ``turn.session[key]`` holds the new value after the block."""
        self._increment(c.SESSION_FIELD_PREFIX, "incr_session", key, delta)

    def incr_stats(self, key: str, delta: int = 1) -> None:
        """As :meth:`incr_session`, for the stats document."""
        self._increment(c.STATS_FIELD_PREFIX, "incr_stats", key, delta)

    def _increment(self, prefix: str, what: str, key: str, delta: int) -> None:
        if not isinstance(key, str):
            raise InvalidInput(f"{what}: keys must be str: {key!r}")
        check_int(f"{what}[{key!r}]", delta, low=-c.LUA_EXACT_INT, high=c.LUA_EXACT_INT)
        self._increments[prefix + key] = self._increments.get(prefix + key, 0) + delta

    def add_xp(self, amount: int, levels: LevelTable | Sequence[Mapping[str, Any]] | None = None) -> None:
        """Award ``amount`` XP in this bot on leaving, with the level and the three boards, as
        :meth:`BotStore.add_xp` does; several calls add up. ``turn.level_up`` holds the outcome after the block."""
        check_int("amount", amount, low=-c.MAX_XP_DELTA, high=c.MAX_XP_DELTA)
        if levels is None:
            self._levels = _DEFAULT_LEVELS
        else:
            self._levels = levels if isinstance(levels, LevelTable) else LevelTable.from_config(levels)
        total = (self._xp or 0) + amount
        check_int("amount", total, low=-c.MAX_XP_DELTA, high=c.MAX_XP_DELTA)
        self._xp = total

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if exc_type is not None:
            return  # the handler failed: nothing is written
        patch = self._patch_args()
        if patch is None and self._xp is None:
            return  # nothing changed: no round trip
        await self._write(patch or _NO_PATCH)

    def _patch_args(self) -> list[Any] | None:
        """The patch arguments of turn.lua (sets, increments, deletes, as ``patch_session``'s), or None when nothing
        changed."""
        sets: dict[str, bytes] = {}
        deletes: list[str] = []
        increments = self._increments
        for prefix, what, document, original in (
            (c.SESSION_FIELD_PREFIX, "session", self.session, self._original[0]),
            (c.STATS_FIELD_PREFIX, "stats", self.stats, self._original[1]),
        ):
            if type(document) is not dict:
                if not isinstance(document, dict):
                    raise InvalidInput(f"turn.{what} must stay a dict, not {type(document).__name__}")
            changed = original.changed(document)
            if changed:
                changed = check_document(what, changed)  # only what is written is checked
                if increments:
                    for key in changed:
                        if prefix + key in increments:
                            raise InvalidInput(f"{what}[{key!r}] is both changed and incremented in one turn")
                sets.update(encode_document(prefix, changed))
            gone = original.deleted(document)
            if gone:
                deletes.extend(prefix + key for key in gone)
        if not sets and not deletes and not increments:
            return None
        args: list[Any] = [len(sets)]
        for name, value in sets.items():
            args += (name, value)
        args.append(len(increments))
        for name, delta in increments.items():
            args += (name, delta)
        args.append(len(deletes))
        args += deletes
        return args

    async def _write(self, patch: Sequence[Any]) -> None:
        bot, store = self._bot, self._bot.store
        tg, xp = self.telegram_id, self._xp
        week = current_week()
        award_boards = store.award_boards(bot.name, week) if xp is not None else None
        script_keys = self._keys + award_boards if award_boards else self._keys
        levels = self._levels
        args = [tg, session_member(bot.name, tg), board_member(tg), week, store.settings.max_document_bytes, *patch,
                "0" if xp is None else "1", xp or 0,
                *(_DEFAULT_LEVEL_ARGS if levels is _DEFAULT_LEVELS else levels.as_script_args())]
        # evicted between enter and exit: load it back (never over newer data) and apply the changes
        load = bot._session_loader(tg, create=True, profile=_NO_PROFILE, user_index=1, session_index=2)
        reply = await store.run_script(scripts.TURN, script_keys, args, load)
        assert reply is not None
        self.version = int(reply[1])
        if reply[2]:
            for name, raw in hash_fields(reply[2]).items():
                document = self.session if name.startswith(c.SESSION_FIELD_PREFIX) else self.stats
                document[name[len(c.SESSION_FIELD_PREFIX):]] = int(raw)
        self._increments.clear()
        if self._xp is not None:
            old_level, new_level, total, bot_xp, week_xp = (int(x) for x in reply[3:8])
            if not award_boards:  # a cluster: the boards are other slots
                await write_award_scores(store.redis, store.keys, tg, bot.name, week, (total, bot_xp, week_xp),
                                         taking_back=self._xp < 0)
            self.level_up = LevelUp(new_level > old_level, old_level, new_level, total, bot_xp)
            self.xp = bot_xp
