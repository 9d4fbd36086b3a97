"""A validated per-field patch of a session's two documents, as the ``patch_session`` script takes it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hotstore.core import constants as c
from hotstore.core.codec import encode_document
from hotstore.core.errors import InvalidInput
from hotstore.core.state import PatchResult
from hotstore.core.validation import check_document


@dataclass
class PatchPlan:
    """Prefixed hash fields to set (encoded), to increment (by an int delta) and to delete."""

    sets: dict[str, bytes] = field(default_factory=dict)
    increments: dict[str, int] = field(default_factory=dict)
    deletes: list[str] = field(default_factory=list)

    def args(self) -> list[Any]:
        """The script's patch arguments: counted lists of sets, increments and deletes."""
        args: list[Any] = [len(self.sets)]
        for name, value in self.sets.items():
            args.extend((name, value))
        args.append(len(self.increments))
        for name, delta in self.increments.items():
            args.extend((name, delta))
        return [*args, len(self.deletes), *self.deletes]

    def result(self, version: int, new_values: Mapping[str, bytes]) -> PatchResult:
        """Split the script's ``{field: new value}`` of the increments back into the two documents."""
        session: dict[str, int] = {}
        stats: dict[str, int] = {}
        for name, raw in new_values.items():
            target = session if name.startswith(c.SESSION_FIELD_PREFIX) else stats
            target[name[2:]] = int(raw)
        return PatchResult(version, session, stats)


def _increments(what: str, prefix: str, value: object) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{what} must be a dict of int increments, not {type(value).__name__}")
    out: dict[str, int] = {}
    for key, delta in value.items():
        if not isinstance(key, str):
            raise InvalidInput(f"{what}: keys must be str: {key!r}")
        if not isinstance(delta, int) or isinstance(delta, bool) or abs(delta) > c.LUA_EXACT_INT:
            raise InvalidInput(f"{what}[{key!r}] must be an int within ±2**53: {delta!r}")
        out[prefix + key] = delta
    return out


def _deletes(what: str, prefix: str, value: object) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidInput(f"{what} must be an iterable of str keys, not {type(value).__name__}: {value!r}")
    out: list[str] = []
    for key in value:
        if not isinstance(key, str):
            raise InvalidInput(f"{what}: keys must be str: {key!r}")
        out.append(prefix + key)
    return list(dict.fromkeys(out))


def build_patch(session: object, stats: object, incr_session: object, incr_stats: object,
                unset_session: object, unset_stats: object) -> PatchPlan:
    """Validate every part of a patch (raising :class:`InvalidInput`) and return the plan."""
    plan = PatchPlan()
    for what, prefix, document in (("session", c.SESSION_FIELD_PREFIX, session),
                                   ("stats", c.STATS_FIELD_PREFIX, stats)):
        if document is not None:
            plan.sets.update(encode_document(prefix, check_document(what, document)))
    plan.increments.update(_increments("incr_session", c.SESSION_FIELD_PREFIX, incr_session))
    plan.increments.update(_increments("incr_stats", c.STATS_FIELD_PREFIX, incr_stats))
    plan.deletes.extend(_deletes("unset_session", c.SESSION_FIELD_PREFIX, unset_session))
    plan.deletes.extend(_deletes("unset_stats", c.STATS_FIELD_PREFIX, unset_stats))
    overlap = (set(plan.sets) & set(plan.increments)) | (set(plan.deletes) & (set(plan.sets) | set(plan.increments)))
    if overlap:
        raise InvalidInput(f"a key may be set, incremented or deleted, not two at once: {sorted(overlap)}")
    return plan
