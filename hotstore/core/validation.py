"""Input checks run before anything is written (docs/design.md, invariant 9)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from hotstore.core.constants import INT64_MAX, INT64_MIN, MAX_PAGE_LIMIT
from hotstore.core.errors import InvalidInput

_MAX_DEPTH = 32
# What SQL text cannot hold: PostgreSQL refuses NUL in TEXT and JSONB, and a lone surrogate has no UTF-8 form.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_text(text: str) -> str | None:
    """Why SQL cannot store ``text`` (``"NUL"`` or ``"a lone surrogate"``), or None when it can.

    ASCII text (``isascii`` is O(1)) is searched for NUL only; other text by one regex scan.
    """
    if "\x00" in text:
        return "NUL"
    if text.isascii() or _UNSTORABLE.search(text) is None:
        return None
    return "a lone surrogate"


def check_storable_text(name: str, text: str) -> str:
    """``text`` if SQL can store it; :class:`InvalidInput` naming ``name`` if it holds NUL or a lone surrogate."""
    why = unstorable_text(text)
    if why is not None:
        raise InvalidInput(f"{name} contains {why}, which SQL cannot store: {text[:40]!r}")
    return text


def check_telegram_id(value: object) -> int:
    """A Telegram id: an ``int`` (not ``bool``) inside int64."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"telegram_id must be an int, not {type(value).__name__}: {value!r}")
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidInput(f"telegram_id outside int64: {value!r}")
    return value


def check_int(name: str, value: object, *, low: int, high: int) -> int:
    """An ``int`` (not ``bool``) within ``[low, high]``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"{name} must be an int, not {type(value).__name__}: {value!r}")
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be between {low} and {high}: {value!r}")
    return value


def check_page(limit: object, offset: object) -> tuple[int, int]:
    """``limit`` in 1..1000 and ``offset`` ≥ 0."""
    return (
        check_int("limit", limit, low=1, high=MAX_PAGE_LIMIT),
        check_int("offset", offset, low=0, high=INT64_MAX),
    )


def check_optional_text(name: str, value: object, *, max_length: int = 255) -> str | None:
    """``None`` or a ``str`` of at most ``max_length`` characters without NUL."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a str or None, not {type(value).__name__}: {value!r}")
    if len(value) > max_length:
        raise InvalidInput(f"{name} longer than {max_length} characters: {value[:40]!r}")
    check_storable_text(name, value)
    return value


def check_text(name: str, value: object, *, max_length: int) -> str:
    """A non-empty ``str`` of at most ``max_length`` characters that SQL can store (names, codes, provider ids)."""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a str, not {type(value).__name__}: {value!r}")
    if not 1 <= len(value) <= max_length:
        raise InvalidInput(f"{name} must be 1-{max_length} characters: {value[:40]!r}")
    check_storable_text(name, value)
    return value


def check_document(name: str, value: object) -> dict[str, Any]:
    """A JSON-compatible ``dict`` with ``str`` keys: what both msgpack (Redis) and JSON (SQL) can hold.

    Tuples become lists; NaN and infinities, bytes, sets, ints outside int64, other objects and text SQL
    cannot store (NUL, lone surrogates; in keys and values, at any depth) are refused, naming the path.
    """
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{name} must be a dict, not {type(value).__name__}")
    if type(value) is dict:
        try:
            return _plain_dict(value, 0)
        except _NotPlain:
            pass  # a subclass, another Mapping or a refused value: the precise walk decides and names it
    result = _json_value(name, value, 0)
    assert isinstance(result, dict)
    return result


class _NotPlain(Exception):
    """Raised by the fast walk on anything it does not accept outright."""


def _plain_dict(value: dict[Any, Any], depth: int) -> dict[str, Any]:
    """The fast walk of :func:`check_document`: the same checks as :func:`_json_value` on the exact built-in
    types only (no paths built, no subclasses, no other Mappings), returning the same copy; anything else
    raises :class:`_NotPlain` and the caller falls back to the precise walk, which accepts or refuses."""
    if depth > _MAX_DEPTH:
        raise _NotPlain
    out: dict[str, Any] = {}
    if value and depth + 1 > _MAX_DEPTH:
        raise _NotPlain
    for key, item in value.items():
        if type(key) is not str or "\x00" in key or (not key.isascii() and _UNSTORABLE.search(key)):
            raise _NotPlain
        out[key] = _plain_value(item, depth + 1)
    return out


def _plain_list(value: list[Any] | tuple[Any, ...], depth: int) -> list[Any]:
    if depth > _MAX_DEPTH or (value and depth + 1 > _MAX_DEPTH):
        raise _NotPlain
    return [_plain_value(item, depth + 1) for item in value]


def _plain_value(item: object, depth: int) -> Any:
    if type(item) is str:
        if "\x00" in item or (not item.isascii() and _UNSTORABLE.search(item)):
            raise _NotPlain
        return item
    kind = type(item)
    if kind is bool or item is None:
        return item
    if kind is int:
        if INT64_MIN <= item <= INT64_MAX:  # type: ignore[operator]
            return item
        raise _NotPlain
    if kind is float:
        if math.isfinite(item):  # type: ignore[arg-type]
            return item
        raise _NotPlain
    if kind is dict:
        return _plain_dict(item, depth)  # type: ignore[arg-type]
    if kind is list or kind is tuple:
        return _plain_list(item, depth)  # type: ignore[arg-type]
    raise _NotPlain


def _json_value(path: str, value: object, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise InvalidInput(f"{path}: nested deeper than {_MAX_DEPTH} levels")
    if isinstance(value, str):
        check_storable_text(path, value)
        return value
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise InvalidInput(f"{path}: int outside int64: {value!r}")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"{path}: {value!r} is not valid in JSON")
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInput(f"{path}: keys must be str, not {type(key).__name__}: {key!r}")
            check_storable_text(f"{path}: key", key)
            out[key] = _json_value(f"{path}.{key}", item, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_json_value(f"{path}[{i}]", item, depth + 1) for i, item in enumerate(value)]
    raise InvalidInput(f"{path}: {type(value).__name__} cannot be stored (JSON types only): {value!r}")
