"""The Redis key scheme: users, sessions and documents spread over ``SHARDS`` virtual shards; one slot per board.

A namespace ``hs`` has three kinds of hash tags (docs/design.md, "Sharded key layout"):

- a **shard tag** ``{hs:<shard>}`` per virtual shard (``shard = telegram_id mod SHARDS``; a document's shard is
  ``crc32("<bot>:<key>") mod SHARDS``). A user, all of their sessions and the dirty sets of their shard share it,
  so every hot-path script stays in one slot, and the shards spread over the masters of a Redis Cluster;
- a **board tag** per board (``{hs:lb:g}``, ``{hs:lb:b:<bot>}``, ``{hs:lb:w:<week>}``): a board and its temporary
  rebuild copy share a slot, and boards spread over the masters too;
- the **namespace tag** ``{hs}`` for the small coordination keys (leases, metrics, refused rows, markers).

::

    {hs:<s>}:u:<telegram_id>           HASH  user profile and counters (fields: hotstore.core.constants USER_*)
    {hs:<s>}:s:<bot>:<telegram_id>     HASH  one bot's session and stats of one user
    {hs:<s>}:dirty:u                   ZSET  telegram ids of the shard's dirty users, score = ms when first dirty
    {hs:<s>}:dirty:s                   ZSET  "<bot>:<telegram_id>" of the shard's dirty sessions, same scores
    {hs:<s>}:d:<bot>:<key>             HASH  one bot's document under a string key (hotstore.core.documents)
    {hs:<s>}:dirty:d                   ZSET  "<bot>:<key>" of the shard's dirty documents, same scores
    {hs:<s>}:lock:ev:<bot>:<key>       STRING  a per-key event lock (hotstore.integrations.aiogram isolation)
    {hs:<s>}:lb:recheck                ZSET  "<bot>:<telegram_id>" of the shard's take-backs whose boards the
                                             recheck tick rewrites, score = ms of the take-back
                                             (hotstore.writebehind.board_recheck)
    {hs:lb:g}                          ZSET  global board (total XP)
    {hs:lb:b:<bot>}                    ZSET  XP earned in one bot
    {hs:lb:w:<YYYY>-W<ww>}             ZSET  XP earned in one ISO week (all bots); no TTL,
                                             deleted by the sweep after HOTSTORE_WEEKLY_BOARD_WEEKS
    <board>:tmp:<token>                ZSET  a board being rebuilt, renamed over the live one when complete
    {hs}:metrics                       HASH  worker counters for ``hotstore status``
    {hs}:refused                       HASH  rows SQL refused, kept dirty: field = the entity's hash key,
                                             value = JSON {"entity", "member", "error", "at"}; at most
                                             REFUSED_ROWS_MAX fields; a field goes when its row flushes
    {hs}:lease:<s>                     STRING  flush lease of one shard: the worker that flushes it now
    {hs}:workers                       ZSET  live flush workers, score = ms of their last heartbeat
    {hs}:lock:rebuild                  STRING  lease of a leaderboard rebuild (workers)
    {hs}:lock:upgrade                  STRING  lease of the upgrade from the single-tag layout (workers)
    {hs}:meta:boards_built             STRING  present once the boards were rebuilt from SQL (workers)
    {hs}:meta:boards_repaired          STRING  ms of the last board repair (hotstore.writebehind.board_repair)
    {hs}:meta:layout                   STRING  "sharded:<SHARDS>" once no key of the single-tag layout is left

Board members are ``board_member(telegram_id)``: equal scores then order by Telegram id, ascending.
:class:`SingleTagKeys` names the keys of the earlier layout (every key under ``{hs}``), for the upgrade.
"""

from __future__ import annotations

import re
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime

from hotstore.core.constants import BOT_NAME_PATTERN, INT64_MAX, MAX_DOCUMENT_KEY_LENGTH, NAMESPACE_PATTERN, SHARDS
from hotstore.core.errors import InvalidInput

DEFAULT_NAMESPACE = "hs"  # the hash tag {hs} of every key when no namespace is configured

_BOT_NAME = re.compile(BOT_NAME_PATTERN)
_NAMESPACE = re.compile(NAMESPACE_PATTERN)
_MEMBER_WIDTH = 20


def board_member(telegram_id: int) -> str:
    """The sorted-set member for a user: ``INT64_MAX - id``, zero-padded to 20 digits.

    Redis orders equal scores by member bytes; ZREVRANGE walks them in reverse, so encoding the
    complement makes ties come out by Telegram id ascending in both pages and ranks.
    """
    return f"{INT64_MAX - telegram_id:0{_MEMBER_WIDTH}d}"


def telegram_id_of(member: str | bytes) -> int:
    """Inverse of :func:`board_member`."""
    text = member.decode() if isinstance(member, bytes) else member
    return INT64_MAX - int(text)


def iso_week(day: date | datetime) -> str:
    """``2026-W48``: the ISO year and week of ``day`` (weeks start on Monday)."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


_WEEK_SECONDS = 7 * 86_400
_current_week: tuple[float, float, str] = (0.0, 0.0, "")  # [start, end) of the week in epoch seconds, its label


def current_week() -> str:
    """:func:`iso_week` of now (UTC), remembered until the week ends: the award path asks on every message."""
    global _current_week
    now = time.time()
    start, end, label = _current_week
    if start <= now < end:
        return label
    today = datetime.fromtimestamp(now, UTC)
    monday = datetime(today.year, today.month, today.day, tzinfo=UTC).timestamp() - today.weekday() * 86_400
    label = iso_week(today)
    _current_week = (monday, monday + _WEEK_SECONDS, label)
    return label


@dataclass(frozen=True)
class KeyScheme:
    """Builds every key of one namespace. ``KeyScheme('hs').user(42) == '{hs:42}:u:42'`` (42 mod 64 = 42)."""

    namespace: str = DEFAULT_NAMESPACE
    shards: int = SHARDS

    def __post_init__(self) -> None:
        if not isinstance(self.namespace, str) or not _NAMESPACE.match(self.namespace):
            raise InvalidInput(f"namespace must match {NAMESPACE_PATTERN}: {self.namespace!r}")
        if not isinstance(self.shards, int) or isinstance(self.shards, bool) or not 1 <= self.shards <= 16384:
            raise InvalidInput(f"shards must be an int in 1..16384: {self.shards!r}")

    # -- tags ---------------------------------------------------------------------------------------------------
    @property
    def tag(self) -> str:
        """The namespace tag ``{hs}`` of the coordination keys."""
        return "{" + self.namespace + "}"

    def shard_tag(self, shard: int) -> str:
        return "{" + self.namespace + ":" + str(shard) + "}"

    def turn_keys(self, bot_name: str, telegram_id: int) -> list[str]:
        """The user's keys of one message, as the touch and turn scripts take them (``KEYS[1..5]``): user hash,
        session hash, dirty users, dirty sessions and board recheck set of the user's shard (one tag built)."""
        tag = "{" + self.namespace + ":" + str(telegram_id % self.shards) + "}"
        return [f"{tag}:u:{telegram_id}", f"{tag}:s:{bot_name}:{telegram_id}", tag + ":dirty:u", tag + ":dirty:s",
                tag + ":lb:recheck"]

    def shard_of(self, telegram_id: int) -> int:
        """The virtual shard of a user (and of all their sessions)."""
        return telegram_id % self.shards

    def document_shard(self, bot_name: str, key: str) -> int:
        """The virtual shard of a bot document: a stable hash of ``<bot>:<key>``."""
        return zlib.crc32(f"{bot_name}:{key}".encode()) % self.shards

    def all_shards(self) -> range:
        return range(self.shards)

    @property
    def layout_label(self) -> str:
        """The value of :attr:`layout` once a namespace holds nothing of the single-tag layout."""
        return f"sharded:{self.shards}"

    # -- entities and their dirty sets --------------------------------------------------------------------------
    def user(self, telegram_id: int) -> str:
        return f"{self.shard_tag(self.shard_of(telegram_id))}:u:{telegram_id}"

    def session(self, bot_name: str, telegram_id: int) -> str:
        return f"{self.shard_tag(self.shard_of(telegram_id))}:s:{bot_name}:{telegram_id}"

    def dirty_users(self, shard: int) -> str:
        return f"{self.shard_tag(shard)}:dirty:u"

    def dirty_sessions(self, shard: int) -> str:
        return f"{self.shard_tag(shard)}:dirty:s"

    def user_dirty_set(self, telegram_id: int) -> str:
        """The dirty-users set of this user's shard."""
        return self.dirty_users(self.shard_of(telegram_id))

    def session_dirty_set(self, telegram_id: int) -> str:
        """The dirty-sessions set of this user's shard."""
        return self.dirty_sessions(self.shard_of(telegram_id))

    def document(self, bot_name: str, key: str) -> str:
        return f"{self.shard_tag(self.document_shard(bot_name, key))}:d:{bot_name}:{key}"

    def dirty_documents(self, shard: int) -> str:
        return f"{self.shard_tag(shard)}:dirty:d"

    def document_dirty_set(self, bot_name: str, key: str) -> str:
        """The dirty-documents set of this document's shard."""
        return self.dirty_documents(self.document_shard(bot_name, key))

    def board_recheck(self, shard: int) -> str:
        """The shard's take-backs whose boards must be rewritten (members ``<bot>:<tg>``): in the users' slot, so
        the award script writes it."""
        return f"{self.shard_tag(shard)}:lb:recheck"

    def user_board_recheck(self, telegram_id: int) -> str:
        """The board recheck set of this user's shard."""
        return self.board_recheck(self.shard_of(telegram_id))

    def event_lock(self, bot_name: str, key: str) -> str:
        return f"{self.shard_tag(self.document_shard(bot_name, key))}:lock:ev:{bot_name}:{key}"

    # -- boards -------------------------------------------------------------------------------------------------
    @property
    def global_board(self) -> str:
        return "{" + self.namespace + ":lb:g}"

    def bot_board(self, bot_name: str) -> str:
        return "{" + self.namespace + ":lb:b:" + bot_name + "}"

    def weekly_board(self, week: str) -> str:
        return "{" + self.namespace + ":lb:w:" + week + "}"

    def temp_board(self, board: str, token: str) -> str:
        """A rebuild's scratch copy of ``board``, in the board's slot (RENAME needs one slot)."""
        return f"{board}:tmp:{token}"

    # -- coordination (namespace tag) ---------------------------------------------------------------------------
    @property
    def metrics(self) -> str:
        return f"{self.tag}:metrics"

    @property
    def refused(self) -> str:
        return f"{self.tag}:refused"

    def shard_lease(self, shard: int) -> str:
        return f"{self.tag}:lease:{shard}"

    @property
    def workers(self) -> str:
        return f"{self.tag}:workers"

    @property
    def rebuild_lock(self) -> str:
        return f"{self.tag}:lock:rebuild"

    @property
    def upgrade_lock(self) -> str:
        """Lease of the layout upgrade from the single-tag layout (workers; hotstore.writebehind.upgrade)."""
        return f"{self.tag}:lock:upgrade"

    @property
    def boards_built(self) -> str:
        return f"{self.tag}:meta:boards_built"

    @property
    def boards_repaired(self) -> str:
        return f"{self.tag}:meta:boards_repaired"

    @property
    def layout(self) -> str:
        return f"{self.tag}:meta:layout"

    # -- scans (SCAN MATCH patterns over every shard; parse_* give the entity back) ------------------------------
    @property
    def namespace_pattern(self) -> str:
        """Every key of the namespace: ``{hs}…`` and ``{hs:…}…`` (not ``{hs2}…``)."""
        return "{" + self.namespace + "[}:]*"

    @property
    def user_pattern(self) -> str:
        return "{" + self.namespace + ":*}:u:*"

    @property
    def session_pattern(self) -> str:
        return "{" + self.namespace + ":*}:s:*"

    @property
    def document_pattern(self) -> str:
        return "{" + self.namespace + ":*}:d:*"

    @property
    def board_pattern(self) -> str:
        return "{" + self.namespace + ":lb:*"

    @property
    def weekly_board_pattern(self) -> str:
        return "{" + self.namespace + ":lb:w:*"

    @property
    def bot_board_pattern(self) -> str:
        return "{" + self.namespace + ":lb:b:*"

    def bot_board_bot(self, key: str) -> str | None:
        """The bot name of a bot board key (None for a temporary board or another key)."""
        prefix = "{" + self.namespace + ":lb:b:"
        if not key.startswith(prefix) or not key.endswith("}"):
            return None
        name = key[len(prefix):-1]
        return name if _BOT_NAME.match(name) else None

    def weekly_board_week(self, key: str) -> str | None:
        """``2026-W48`` of a weekly board key (None for a temporary board or another key)."""
        prefix = "{" + self.namespace + ":lb:w:"
        if not key.startswith(prefix) or not key.endswith("}"):
            return None
        return key[len(prefix):-1]

    def _entity_rest(self, key: str | bytes, kind: str) -> tuple[int, str] | None:
        text = key.decode() if isinstance(key, bytes) else key
        head = "{" + self.namespace + ":"
        if not text.startswith(head):
            return None
        close = text.find("}", len(head))
        shard_text = text[len(head):close]
        if close < 0 or not shard_text.isdigit() or not text.startswith(f":{kind}:", close + 1):
            return None
        return int(shard_text), text[close + 4:]

    def parse_user(self, key: str | bytes) -> tuple[int, str] | None:
        """``(shard, dirty member)`` of a user hash key, or None for any other key."""
        found = self._entity_rest(key, "u")
        return found if found is not None and _is_int(found[1]) else None

    def parse_session(self, key: str | bytes) -> tuple[int, str] | None:
        """``(shard, dirty member "<bot>:<tg>")`` of a session hash key, or None."""
        return self._entity_rest(key, "s")

    def parse_document(self, key: str | bytes) -> tuple[int, str] | None:
        """``(shard, dirty member "<bot>:<key>")`` of a document hash key, or None."""
        return self._entity_rest(key, "d")


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()


@dataclass(frozen=True)
class SingleTagKeys:
    """The keys of the single-tag layout (hotstore up to 0.4: every key under ``{hs}``), read by the upgrade."""

    namespace: str = DEFAULT_NAMESPACE

    @property
    def tag(self) -> str:
        return "{" + self.namespace + "}"

    def user(self, telegram_id: int) -> str:
        return f"{self.tag}:u:{telegram_id}"

    def session(self, bot_name: str, telegram_id: int) -> str:
        return f"{self.tag}:s:{bot_name}:{telegram_id}"

    def document(self, bot_name: str, key: str) -> str:
        return f"{self.tag}:d:{bot_name}:{key}"

    @property
    def dirty_users(self) -> str:
        return f"{self.tag}:dirty:u"

    @property
    def dirty_sessions(self) -> str:
        return f"{self.tag}:dirty:s"

    @property
    def dirty_documents(self) -> str:
        return f"{self.tag}:dirty:d"

    @property
    def global_board(self) -> str:
        return f"{self.tag}:lb:g"

    def bot_board(self, bot_name: str) -> str:
        return f"{self.tag}:lb:b:{bot_name}"

    def weekly_board(self, week: str) -> str:
        return f"{self.tag}:lb:w:{week}"

    @property
    def flush_lock(self) -> str:
        return f"{self.tag}:lock:flush"

    @property
    def user_pattern(self) -> str:
        return f"{self.tag}:u:*"

    @property
    def session_pattern(self) -> str:
        return f"{self.tag}:s:*"

    @property
    def document_pattern(self) -> str:
        return f"{self.tag}:d:*"

    @property
    def board_pattern(self) -> str:
        return f"{self.tag}:lb:*"


def session_member(bot_name: str, telegram_id: int) -> str:
    """Member of the dirty-sessions set: ``<bot>:<telegram_id>`` (bot names cannot hold ':')."""
    return f"{bot_name}:{telegram_id}"


def parse_session_member(member: str | bytes) -> tuple[str, int]:
    text = member.decode() if isinstance(member, bytes) else member
    bot_name, _, telegram_id = text.rpartition(":")
    return bot_name, int(telegram_id)


def document_member(bot_name: str, key: str) -> str:
    """Member of the dirty-documents set: ``<bot>:<key>`` (the key may hold ':', the bot name cannot)."""
    return f"{bot_name}:{key}"


def parse_document_member(member: str | bytes) -> tuple[str, str]:
    text = member.decode() if isinstance(member, bytes) else member
    bot_name, _, key = text.partition(":")
    return bot_name, key


def check_document_key(key: object) -> str:
    """Return ``key`` if it can name a document: a ``str`` of 1–512 characters without NUL."""
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_DOCUMENT_KEY_LENGTH or "\x00" in key:
        raise InvalidInput(f"document key must be a str of 1-{MAX_DOCUMENT_KEY_LENGTH} characters without NUL: "
                           f"{str(key)[:60]!r}")
    return key


def check_bot_name(bot_name: object) -> str:
    """Return ``bot_name`` if it is safe inside a key (letters, digits, ``_ . -``; 1–50 chars)."""
    if not isinstance(bot_name, str) or not _BOT_NAME.match(bot_name):
        raise InvalidInput(f"bot name must match {BOT_NAME_PATTERN}: {bot_name!r}")
    return bot_name
