"""Input checks run before anything is written (docs/design.md, invariant 9)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hotstore.constants import INT64_MAX, INT64_MIN, MAX_PAGE_LIMIT
from hotstore.errors import InvalidInput

_MAX_DEPTH = 32


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
    if len(value) > max_length or "\x00" in value:
        raise InvalidInput(f"{name} too long or contains NUL: {value[:40]!r}")
    return value


def check_text(name: str, value: object, *, max_length: int) -> str:
    """A non-empty ``str`` of at most ``max_length`` characters without NUL (names, codes, provider ids)."""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a str, not {type(value).__name__}: {value!r}")
    if not 1 <= len(value) <= max_length or "\x00" in value:
        raise InvalidInput(f"{name} must be 1-{max_length} characters without NUL: {value[:40]!r}")
    return value


def check_document(name: str, value: object) -> dict[str, Any]:
    """A JSON-compatible ``dict`` with ``str`` keys: what both msgpack (Redis) and JSON (SQL) can hold.

    Tuples become lists; NaN and infinities, bytes, sets, ints outside int64 and other objects are refused.
    """
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{name} must be a dict, not {type(value).__name__}")
    result = _json_value(name, value, 0)
    assert isinstance(result, dict)
    return result


def _json_value(path: str, value: object, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise InvalidInput(f"{path}: nested deeper than {_MAX_DEPTH} levels")
    if value is None or isinstance(value, (bool, str)):
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
            out[key] = _json_value(f"{path}.{key}", item, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_json_value(f"{path}[{i}]", item, depth + 1) for i, item in enumerate(value)]
    raise InvalidInput(f"{path}: {type(value).__name__} cannot be stored (JSON types only): {value!r}")
