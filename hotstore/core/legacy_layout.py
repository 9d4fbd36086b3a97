"""The single-tag layout (hotstore up to 0.4) as a tier between Redis and SQL while a namespace is upgraded.

Before the sharded layout every key of a namespace sat under ``{hs}`` (:class:`~hotstore.core.keys.SingleTagKeys`).
A store that reads the sharded keys would not see an entity still written there, and a miss would load the older
SQL row: its unflushed writes would be lost. So, until the namespace holds nothing of the old layout (the marker
``KeyScheme.layout`` is set), a miss of the read-through first **adopts** the entity (docs/design.md, "Change: the
sharded layout and its upgrade")::

    legacy_read   (slot {hs})        the single-tag hash, its dirty score, the user's score on this week's board
    legacy_adopt  (the entity's shard) written only if the sharded key is absent; dirty: ZADD NX with the old
                                     score, no TTL; clean: the idle TTL; a user gets wk/wx from the weekly board
    legacy_forget (slot {hs})        the single-tag hash and its dirty mark deleted

Single-tag keys are never written any more (every bot runs this version), so "copy if absent, then delete" is
safe with any number of concurrent adopters and a crash between the steps: a second adopter finds the sharded key
and writes nothing, and a re-run after a crash copies nothing and deletes what the first left.

:class:`LegacyLayout` keeps, per store, whether the namespace may still hold single-tag keys: asked once
(:meth:`LegacyLayout.probe`, one script and at most one ``SCAN`` step), and the marker is re-read with every
adoption, so a store stops paying as soon as the upgrade finished. A namespace with nothing single-tag gets the
marker at that first probe. A warm call never pays anything, nor a cold call once the marker was seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from hotstore.core import constants as c
from hotstore.core.cluster import RedisClient
from hotstore.core.keys import (
    KeyScheme,
    SingleTagKeys,
    board_member,
    iso_week,
    parse_document_member,
    parse_session_member,
)
from hotstore.core.loader import LoadBlocks
from hotstore.core.redis_client import reachable
from hotstore.core.scripts import LAYOUT_PROBE, LEGACY_ADOPT, LEGACY_FORGET, LEGACY_READ, Scripts
from persistence.clock import utc_now

USER, SESSION, DOCUMENT = "u", "s", "d"
PROBE_SCAN_COUNT = 1000  # keys the probe's one SCAN step looks at for single-tag entity keys without dirty marks

UNKNOWN, LEGACY, SHARDED = "unknown", "legacy", "sharded"


@dataclass(frozen=True, slots=True)
class Entity:
    """A user (``u``, member ``<tg>``), session (``s``, ``<bot>:<tg>``) or document (``d``, ``<bot>:<key>``)."""

    kind: str
    member: str


def entity_of_key(keys: KeyScheme, key: str) -> Entity | None:
    """The entity a sharded hash key names, or None for any other key (a dirty set, a board)."""
    for kind, parse in ((USER, keys.parse_user), (SESSION, keys.parse_session), (DOCUMENT, keys.parse_document)):
        found = parse(key)
        if found is not None:
            return Entity(kind, found[1])
    return None


def sharded_keys(keys: KeyScheme, entity: Entity) -> tuple[str, str]:
    """``(hash, dirty set)`` of the entity in the sharded layout."""
    if entity.kind == USER:
        telegram_id = int(entity.member)
        return keys.user(telegram_id), keys.user_dirty_set(telegram_id)
    if entity.kind == SESSION:
        bot, telegram_id = parse_session_member(entity.member)
        return keys.session(bot, telegram_id), keys.session_dirty_set(telegram_id)
    bot, key = parse_document_member(entity.member)
    return keys.document(bot, key), keys.document_dirty_set(bot, key)


def legacy_key(legacy: SingleTagKeys, entity: Entity) -> str:
    """The entity's hash key in the single-tag layout."""
    return f"{legacy.tag}:{entity.kind}:{entity.member}"


def legacy_dirty_sets(legacy: SingleTagKeys) -> list[str]:
    return [legacy.dirty_users, legacy.dirty_sessions, legacy.dirty_documents]


def is_legacy_key(legacy: SingleTagKeys, key: str | bytes) -> bool:
    """Whether ``key`` is a key of the single-tag layout that holds data (an entity, a dirty set, a board)."""
    text = key.decode() if isinstance(key, bytes) else key
    head = legacy.tag + ":"
    return text.startswith(head) and text[len(head):].startswith(("u:", "s:", "d:", "dirty:", "lb:"))


@dataclass
class Adoption:
    """What one adoption found: the entities copied, and the users' scores on the current week's single-tag board
    (member → score), which an SQL load of the same call continues."""

    adopted: int = 0
    found: int = 0
    week: str = ""
    week_scores: dict[str, int] = field(default_factory=dict)


class LegacyLayout:
    """Whether a namespace may still hold single-tag keys, and the adoption of its entities (one per store)."""

    def __init__(self, redis: RedisClient, scripts: Scripts, keys: KeyScheme, idle_ttl_s: int,
                 board_weeks: int = 0) -> None:
        self.redis = redis
        self.board_weeks = board_weeks  # weekly boards kept (HOTSTORE_WEEKLY_BOARD_WEEKS): the probe looks for each
        self.scripts = scripts
        self.keys = keys
        self.legacy = SingleTagKeys(keys.namespace)
        self.idle_ttl_ms = idle_ttl_s * 1000
        self.state = UNKNOWN
        self.adoptions = 0  # entities this store copied from the single-tag layout

    @property
    def done(self) -> bool:
        """True once the marker was seen (or set): the read-through no longer looks at single-tag keys."""
        return self.state == SHARDED

    def probe_keys(self) -> list[str]:
        """The keys ``layout_probe.lua`` checks: the marker, then the single-tag dirty sets, the global board and
        the weekly boards still kept (none of them has a TTL; clean entities, which have one, are not listed)."""
        legacy = self.legacy
        today = utc_now()
        weeks = sorted({iso_week(today - timedelta(weeks=back)) for back in range(self.board_weeks + 1)})
        return [self.keys.layout, *legacy_dirty_sets(legacy), legacy.global_board,
                *(legacy.weekly_board(week) for week in weeks)]

    async def probe(self) -> bool:
        """Find out (and remember) whether the namespace holds single-tag data; True if it does.

        One script on the namespace slot reads the marker and looks for the single-tag dirty sets and boards;
        only when none is there, one ``SCAN`` step looks for single-tag entity keys (clean ones, whose SQL rows
        hold the same data). Nothing found: the marker is set and the store never asks again."""
        reply = int(await self.scripts.call(LAYOUT_PROBE, self.probe_keys(), [self.keys.layout_label, "0"]))
        if reply == 2:
            self.state = SHARDED
            return False
        if reply == 1 or await self._scan_step_finds_legacy():
            self.state = LEGACY
            return True
        reply = int(await self.scripts.call(LAYOUT_PROBE, self.probe_keys(), [self.keys.layout_label, "1"]))
        self.state = LEGACY if reply == 1 else SHARDED
        return self.state == LEGACY

    async def _scan_step_finds_legacy(self) -> bool:
        match = self.legacy.tag + ":*"
        async with reachable():
            if hasattr(self.redis, "get_node_from_key"):  # a cluster: the namespace slot's node
                node = self.redis.get_node_from_key(self.keys.layout)
                result: Any = await self.redis.scan(0, match=match, count=PROBE_SCAN_COUNT, target_nodes=node)
            else:
                result = await self.redis.scan(0, match=match, count=PROBE_SCAN_COUNT)
        found: Iterable[Any] = result[1] if isinstance(result, tuple) else result
        if isinstance(found, dict):
            found = [key for part in found.values() for key in part]
        return any(is_legacy_key(self.legacy, key) for key in found)

    async def adopt_keys(self, script_keys: Sequence[str]) -> Adoption | None:
        """Adopt the entities named by a missed script's keys; None when the namespace is (now) fully sharded."""
        if self.state == UNKNOWN:
            await self.probe()
        if self.state == SHARDED:
            return None
        entities = [found for found in (entity_of_key(self.keys, key) for key in script_keys) if found is not None]
        return await self.adopt(entities)

    async def adopt(self, entities: Sequence[Entity]) -> Adoption | None:
        """Copy each entity that still has a single-tag hash into its sharded key (if absent), then delete the
        single-tag hash and dirty mark. None when the marker says the upgrade is over (remembered)."""
        legacy = self.legacy
        week = iso_week(utc_now())
        read_keys = [self.keys.layout, legacy.weekly_board(week), *legacy_dirty_sets(legacy)]
        read_keys += [legacy_key(legacy, entity) for entity in entities]
        args: list[Any] = [self.keys.layout_label]
        for entity in entities:
            member = board_member(int(entity.member)) if entity.kind == USER else ""
            args += [entity.kind, entity.member, member]
        reply = await self.scripts.call(LEGACY_READ, read_keys, args)
        if int(reply[0]) == 1:
            self.state = SHARDED
            return None
        adoption = Adoption(week=week)
        present: list[Entity] = []
        for entity, (flat, dirty_score, week_score) in zip(entities, reply[1:], strict=True):
            if week_score not in (b"", ""):
                adoption.week_scores[entity.member] = int(float(week_score))
            if not flat:
                continue
            present.append(entity)
            hash_key, dirty_set = sharded_keys(self.keys, entity)
            week_args = [week, adoption.week_scores[entity.member]] if entity.member in adoption.week_scores \
                and entity.kind == USER else ["", 0]
            adopt_args = [entity.member, dirty_score, self.idle_ttl_ms, *week_args, *flat]
            adoption.adopted += int(await self.scripts.call(LEGACY_ADOPT, [hash_key, dirty_set], adopt_args))
        if present:
            forget_args: list[str] = []
            for entity in present:
                forget_args += [entity.kind, entity.member]
            await self.scripts.call(LEGACY_FORGET, [*legacy_dirty_sets(legacy),
                                                    *(legacy_key(legacy, entity) for entity in present)], forget_args)
        adoption.found = len(present)
        self.adoptions += adoption.adopted
        return adoption

    def continue_week(self, blocks: LoadBlocks, script_keys: Sequence[str], adoption: Adoption | None) -> LoadBlocks:
        """SQL-loaded user hashes of a call made while the upgrade runs get the current week's XP from the
        single-tag weekly board when SQL's is lower (the week continues; the upgrade also seeds SQL from it)."""
        if adoption is None or not adoption.week_scores:
            return blocks
        out: LoadBlocks = []
        for index, fields in blocks:
            entity = entity_of_key(self.keys, script_keys[index - 1])
            score = adoption.week_scores.get(entity.member) if entity is not None and entity.kind == USER else None
            if score is not None:
                same_week = _text(fields.get(c.USER_WEEK)) == adoption.week
                if not same_week or int(_text(fields.get(c.USER_WEEK_XP)) or 0) < score:
                    fields = {**fields, c.USER_WEEK: adoption.week, c.USER_WEEK_XP: str(score)}
            out.append((index, fields))
        return out


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value
