"""The Redis key scheme. Every key starts with the namespace hash tag, e.g. ``{hs}``.

All keys of one store share one cluster slot, so every Lua script may touch a user, their session,
the dirty sets and the leaderboards at once and still run unchanged on Redis Cluster
(docs/design.md, "One hash tag per namespace", explains the trade-off)::

    {hs}:u:<telegram_id>               HASH  user profile and counters (fields: hotstore.core.constants USER_*)
    {hs}:s:<bot>:<telegram_id>         HASH  one bot's session and stats of one user
    {hs}:dirty:u                       ZSET  telegram ids of dirty users, score = ms when first dirty
    {hs}:dirty:s                       ZSET  "<bot>:<telegram_id>" of dirty sessions, same scores
    {hs}:d:<bot>:<key>                 HASH  one bot's document under a string key (hotstore.core.documents)
    {hs}:dirty:d                       ZSET  "<bot>:<key>" of dirty documents, same scores
    {hs}:lb:g                          ZSET  global board (total XP)
    {hs}:lb:b:<bot>                    ZSET  XP earned in one bot
    {hs}:lb:w:<YYYY>-W<ww>             ZSET  XP earned in one ISO week (all bots); no TTL,
                                             deleted by the sweep after HOTSTORE_WEEKLY_BOARD_WEEKS
    {hs}:metrics                       HASH  worker counters for ``hotstore status``
    {hs}:refused                       HASH  rows SQL refused, kept dirty: field = the entity's hash key,
                                             value = JSON {"entity", "member", "error", "at"}; at most
                                             REFUSED_ROWS_MAX fields; a field goes when its row flushes
    {hs}:lock:flush                    STRING  short lease: one flusher per namespace at a time (workers)
    {hs}:lock:rebuild                  STRING  lease of a leaderboard rebuild (workers)
    {hs}:meta:boards_built             STRING  present once the boards were rebuilt from SQL (workers)
    {hs}:lock:ev:<bot>:<key>           STRING  a per-key event lock (hotstore.integrations.aiogram isolation)
    {hs}:tmp:lb:<token>                ZSET  a board being rebuilt, renamed over the live one when complete

Board members are ``board_member(telegram_id)``: equal scores then order by Telegram id, ascending.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from hotstore.core.constants import BOT_NAME_PATTERN, INT64_MAX, MAX_DOCUMENT_KEY_LENGTH, NAMESPACE_PATTERN
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


@dataclass(frozen=True)
class KeyScheme:
    """Builds every key of one namespace. ``KeyScheme('hs').user(42) == '{hs}:u:42'``."""

    namespace: str = DEFAULT_NAMESPACE

    def __post_init__(self) -> None:
        if not isinstance(self.namespace, str) or not _NAMESPACE.match(self.namespace):
            raise InvalidInput(f"namespace must match {NAMESPACE_PATTERN}: {self.namespace!r}")

    @property
    def tag(self) -> str:
        return "{" + self.namespace + "}"

    def user(self, telegram_id: int) -> str:
        return f"{self.tag}:u:{telegram_id}"

    def session(self, bot_name: str, telegram_id: int) -> str:
        return f"{self.tag}:s:{bot_name}:{telegram_id}"

    @property
    def dirty_users(self) -> str:
        return f"{self.tag}:dirty:u"

    @property
    def dirty_sessions(self) -> str:
        return f"{self.tag}:dirty:s"

    def document(self, bot_name: str, key: str) -> str:
        return f"{self.tag}:d:{bot_name}:{key}"

    @property
    def dirty_documents(self) -> str:
        return f"{self.tag}:dirty:d"

    def event_lock(self, bot_name: str, key: str) -> str:
        return f"{self.tag}:lock:ev:{bot_name}:{key}"

    @property
    def global_board(self) -> str:
        return f"{self.tag}:lb:g"

    def bot_board(self, bot_name: str) -> str:
        return f"{self.tag}:lb:b:{bot_name}"

    def weekly_board(self, week: str) -> str:
        return f"{self.tag}:lb:w:{week}"

    @property
    def metrics(self) -> str:
        return f"{self.tag}:metrics"

    @property
    def refused(self) -> str:
        return f"{self.tag}:refused"

    @property
    def flush_lock(self) -> str:
        return f"{self.tag}:lock:flush"

    @property
    def rebuild_lock(self) -> str:
        return f"{self.tag}:lock:rebuild"

    @property
    def boards_built(self) -> str:
        return f"{self.tag}:meta:boards_built"

    def temp_board(self, token: str) -> str:
        return f"{self.tag}:tmp:lb:{token}"

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

    @property
    def weekly_board_pattern(self) -> str:
        return f"{self.tag}:lb:w:*"


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
