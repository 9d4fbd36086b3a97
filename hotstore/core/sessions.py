"""``BotStore``: one bot's view of the hot store (sessions, stats documents, XP).

Documents are JSON-like dicts; each top-level key is one hash field (docs/design.md), so a patch
sets, increments or deletes single keys atomically while a save replaces a document whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from typing import TYPE_CHECKING, Any

from hotstore.core import constants as c
from hotstore.core import scripts
from hotstore.core.codec import encode_document, encoded_size
from hotstore.core.defaults import default_session, default_stats
from hotstore.core.documents import Documents
from hotstore.core.errors import InvalidInput, NotFound
from hotstore.core.keys import board_member, current_week, session_member
from hotstore.core.leaderboard import write_award_scores
from hotstore.core.levels import LevelTable
from hotstore.core.loader import LoadBlocks, Profile, load_session, load_user
from hotstore.core.patch import build_patch
from hotstore.core.profile import UNSET, ProfileArg, profile_for_insert, profile_ops
from hotstore.core.state import LevelUp, PatchResult, SessionState, hash_fields
from hotstore.core.turn import Turn
from hotstore.core.validation import check_document, check_int, check_telegram_id

if TYPE_CHECKING:
    from hotstore.core.store import HotStore


class BotStore:
    """Sessions and XP of one bot. Get one from :meth:`HotStore.bot`::

    bot = store.bot("spin_bot")
    state = await bot.get_session(42)
    version = await bot.save_session(42, {**state.session, "chat_state": "training_active"})
    """

    def __init__(self, store: HotStore, name: str) -> None:
        self.store = store
        self.name = name

    @property
    def documents(self) -> Documents:
        """This bot's documents (:mod:`hotstore.core.documents`): framework state under string keys, and each
        user's session seen as a document with a state."""
        return Documents(self.store, self.name)

    def _session_loader(self, telegram_id: int, *, create: bool, profile: Profile,
                        user_index: int | None, session_index: int, create_session: bool = False) -> Any:
        """The read-through loader of a script's MISS. ``create``: user and session are inserted if absent;
        ``create_session`` (with ``create=False``): only the session, and only for a user that exists."""
        async def load() -> LoadBlocks | None:
            loaded = await self.store.cold_loads.session(telegram_id, self.name, create=create, profile=profile)
            if loaded is None and create_session:
                # the user must exist; the session is created for a known user (as v4 had none to create)
                if await load_user(self.store.engine, telegram_id, create=False, profile=profile) is None:
                    return None
                loaded = await load_session(self.store.engine, telegram_id, self.name, create=True, profile=profile,
                                            new_documents=self.store.session_defaults(self.name))
            if loaded is None:
                return None
            user, session = loaded
            blocks: LoadBlocks = [(session_index, session)]
            if user_index is not None:
                blocks.append((user_index, user))
            return blocks

        return load

    async def get_session(self, telegram_id: int, *, username: ProfileArg = UNSET, first_name: ProfileArg = UNSET,
                          last_name: ProfileArg = UNSET) -> SessionState:
        """The user's session in this bot, creating user and session (v4 defaults) on first contact.

        Touches the user as :meth:`HotStore.ensure_user` does; reading never dirties the session.
        """
        reply = await self._touch_session(telegram_id, username, first_name, last_name)
        return SessionState.from_reply(self.name, reply[1], reply[2])

    async def _touch_session(self, telegram_id: int, username: ProfileArg, first_name: ProfileArg,
                             last_name: ProfileArg) -> list[Any]:
        """The ``touch_session`` script's reply (tag, user hash, session hash): :meth:`get_session` and the entry of
        :class:`~hotstore.core.turn.Turn`, which decodes it itself."""
        check_telegram_id(telegram_id)
        return await self._touch_checked(telegram_id, username, first_name, last_name)

    async def _touch_checked(self, telegram_id: int, username: ProfileArg, first_name: ProfileArg,
                             last_name: ProfileArg, script_keys: list[str] | None = None) -> list[Any]:
        """:meth:`_touch_session` of a checked id; ``script_keys`` (the user's :meth:`KeyScheme.turn_keys`) when
        the caller has them (the touch script takes the first three)."""
        ops = profile_ops(username, first_name, last_name)
        if script_keys is None:
            script_keys = self.store.keys.turn_keys(self.name, telegram_id)
        args = [telegram_id, *ops, self.store.settings.activity_resolution * 1000]

        async def load() -> LoadBlocks | None:  # a miss: the names a new user row gets, then the session loader
            profile = profile_for_insert(username, first_name, last_name)
            loaded: LoadBlocks | None = await self._session_loader(
                telegram_id, create=True, profile=profile, user_index=1, session_index=2)()
            return loaded

        reply = await self.store.run_script(scripts.TOUCH_SESSION, script_keys[:3], args, load)
        assert reply is not None
        return reply

    def turn(self, telegram_id: int, *, username: ProfileArg = UNSET, first_name: ProfileArg = UNSET,
             last_name: ProfileArg = UNSET) -> Turn:
        """One message's work on this user: ``async with bot.turn(tg) as turn: ...`` reads user and session in
        one round trip and writes what changed (documents, increments, XP) in one more (:mod:`hotstore.core.turn`)."""
        return Turn(self, telegram_id, username=username, first_name=first_name, last_name=last_name)

    async def save_session(self, telegram_id: int, session_data: Mapping[str, Any],
                           stats_data: Mapping[str, Any] | None = None) -> int:
        """Replace the session document (and the stats document unless ``stats_data`` is None) whole.

        Creates user and session when absent (unlike v4, which returned False). Returns the new version.
        """
        check_telegram_id(telegram_id)
        session_fields = self._document_fields(c.SESSION_FIELD_PREFIX, "session_data", session_data)
        stats_fields = None if stats_data is None else self._document_fields(
            c.STATS_FIELD_PREFIX, "stats_data", stats_data)
        reply = await self._replace(telegram_id, session_fields, stats_fields, create=True)
        assert reply is not None
        return int(reply[1])

    async def reset_session(self, telegram_id: int, *, session_data: Mapping[str, Any] | None = None,
                            keep_stats: bool = True) -> bool:
        """Replace the session with ``session_data`` (None → v4's default session); with ``keep_stats=False``
        the stats go back to the defaults too. False (nothing created) if the user has no session here."""
        check_telegram_id(telegram_id)
        if not isinstance(keep_stats, bool):
            raise InvalidInput(f"keep_stats must be a bool: {keep_stats!r}")
        document = default_session() if session_data is None else session_data
        session_fields = self._document_fields(c.SESSION_FIELD_PREFIX, "session_data", document)
        stats_fields = None if keep_stats else self._document_fields(c.STATS_FIELD_PREFIX, "stats", default_stats())
        return await self._replace(telegram_id, session_fields, stats_fields, create=False) is not None

    async def _replace(self, telegram_id: int, session_fields: dict[str, bytes], stats_fields: dict[str, bytes] | None,
                       *, create: bool) -> list[Any] | None:
        keys = self.store.keys
        args: list[Any] = [session_member(self.name, telegram_id), "0" if stats_fields is None else "1"]
        for fields in (session_fields, stats_fields or {}):
            args.append(len(fields))
            args.extend(chain.from_iterable(fields.items()))  # name, value, name, value, ...
        load = self._session_loader(telegram_id, create=create, profile=Profile(), user_index=None, session_index=1)
        script_keys = [keys.session(self.name, telegram_id), keys.session_dirty_set(telegram_id)]
        return await self.store.run_script(scripts.SAVE_SESSION, script_keys, args, load)

    def _document_fields(self, prefix: str, what: str, document: object) -> dict[str, bytes]:
        fields = encode_document(prefix, check_document(what, document))
        size = encoded_size(fields)
        if size > self.store.settings.max_document_bytes:
            raise InvalidInput(f"{what} takes {size} bytes, over the limit of {self.store.settings.max_document_bytes}")
        return fields

    async def patch_session(self, telegram_id: int, *, session: Mapping[str, Any] | None = None,
                            stats: Mapping[str, Any] | None = None, incr_session: Mapping[str, int] | None = None,
                            incr_stats: Mapping[str, int] | None = None, unset_session: Iterable[str] = (),
                            unset_stats: Iterable[str] = ()) -> PatchResult:
        """Atomically set, increment (integers) or delete top-level keys of the session and stats documents.

        A key may appear in only one of set/increment/delete per document. Incrementing a missing key starts
        from 0; incrementing a non-integer raises :class:`InvalidInput` and writes nothing. Creates user and
        session when absent.
        """
        check_telegram_id(telegram_id)
        plan = build_patch(session, stats, incr_session, incr_stats, unset_session, unset_stats)
        keys = self.store.keys
        args = [session_member(self.name, telegram_id), self.store.settings.max_document_bytes, *plan.args()]
        load = self._session_loader(telegram_id, create=True, profile=Profile(), user_index=None, session_index=1)
        reply = await self.store.run_script(
            scripts.PATCH_SESSION, [keys.session(self.name, telegram_id), keys.session_dirty_set(telegram_id)], args,
            load)
        assert reply is not None
        return plan.result(int(reply[1]), hash_fields(reply[2]))

    async def add_xp(self, telegram_id: int, amount: int, *,
                     levels: LevelTable | Sequence[Mapping[str, Any]] | None = None, create: bool = True) -> LevelUp:
        """Award ``amount`` XP in this bot: user total, bot XP, level and the global/bot/weekly boards at once.

        ``create=False``: an unknown user is not created; :class:`NotFound` is raised instead, and nothing is
        written (a known user without a session in this bot gets one, as with ``create=True``). A warm call is
        one round trip either way.

        The level is ``max(old, level_for(total))`` (``levels``: a :class:`LevelTable` or v4's levels_config;
        None → ``min(xp // 100 + 1, 100)``). Negative amounts take XP back (levels never go down); a total or
        bot XP that would go below 0 raises :class:`InvalidInput` and writes nothing.
        """
        check_telegram_id(telegram_id)
        check_int("amount", amount, low=-c.MAX_XP_DELTA, high=c.MAX_XP_DELTA)
        if not isinstance(create, bool):
            raise InvalidInput(f"create must be a bool: {create!r}")
        table = levels if isinstance(levels, LevelTable) else LevelTable.from_config(levels)
        keys = self.store.keys
        week = current_week()
        redis = self.store.redis
        award_boards = self.store.award_boards(self.name, week)
        script_keys = [*keys.turn_keys(self.name, telegram_id), *award_boards]
        args = [
            telegram_id, session_member(self.name, telegram_id), board_member(telegram_id), week, amount,
            *table.as_script_args(),
        ]
        # A user or session created now has 0 XP, which a negative amount would take below 0: then the load
        # creates nothing, and the refusal comes before any write (invariant 9).
        taking_back = amount < 0
        load = self._session_loader(telegram_id, create=create and not taking_back, profile=Profile(),
                                    user_index=1, session_index=2, create_session=not create and not taking_back)
        reply = await self.store.run_script(scripts.ADD_XP, script_keys, args, load)
        if reply is None:
            if taking_back and (create or await self.store.get_user(telegram_id) is not None):
                raise InvalidInput("add_xp refused: negative xp")
            raise NotFound(f"user {telegram_id} does not exist")
        old_level, new_level, total, bot_xp, week_xp = (int(x) for x in reply[1:6])
        if not award_boards:  # a cluster: the boards are other slots
            await write_award_scores(redis, keys, telegram_id, self.name, week, (total, bot_xp, week_xp),
                                     taking_back=taking_back)
        return LevelUp(new_level > old_level, old_level, new_level, total, bot_xp)

