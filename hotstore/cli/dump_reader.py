"""Reading a v4 ``users_data.json`` strictly: what ``json.load`` would hide or crash on is found and named.

- duplicate keys (``json.load`` keeps the last silently): ids that appear more than once in the file, and
  duplicate keys inside a record, are reported, not guessed;
- numbers of more than :data:`MAX_INT_DIGITS` digits become :class:`AbsurdNumber` (no ``int`` conversion, which
  fails past 4,300 digits), which the record's validation refuses, naming the record;
- a file nested too deep for the parser (``RecursionError``) or not JSON is one :class:`InvalidInput`.

Example::

    dump = read_dump(Path("users_data.json"))
    dump.records["42"], dump.duplicate_ids, dump.duplicates_in("42")
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hotstore.core.errors import InvalidInput

MAX_INT_DIGITS = 20  # int64 has 19 digits (and a sign): anything longer cannot be a counter or an id


class AbsurdNumber:
    """A number too long to be anything a v4 record holds; kept as its length, never converted."""

    def __init__(self, text: str) -> None:
        self.digits = len(text.lstrip("-"))

    def __repr__(self) -> str:
        return f"a number of {self.digits} digits"


class _Pairs(dict[str, Any]):
    """A JSON object in which some key appeared more than once (``duplicates``: those keys, how often each)."""

    def __init__(self, pairs: list[tuple[str, Any]], duplicates: dict[str, int]) -> None:
        super().__init__(pairs)
        self.duplicates = duplicates


@dataclass
class Dump:
    """The file's records (for a duplicated id, the last), the ids that appear more than once and how often."""

    records: dict[str, Any]
    duplicate_ids: dict[str, int] = field(default_factory=dict)
    any_duplicates: bool = False

    def duplicates_in(self, key: str) -> list[str]:
        """The keys that appear twice in one object anywhere inside record ``key`` (an iterative walk)."""
        if not self.any_duplicates:
            return []
        found: list[str] = []
        stack = [self.records.get(key)]
        while stack:
            value = stack.pop()
            if isinstance(value, _Pairs):
                found += value.duplicates
            if isinstance(value, dict):
                stack.extend(value.values())
            elif isinstance(value, list):
                stack.extend(value)
        return found


def read_dump(source: Path) -> Dump:
    """The dump at ``source``; :class:`InvalidInput` (one line) if it cannot be read, parsed or is not an object."""
    seen_duplicates: list[bool] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        plain = dict(items)
        if len(plain) == len(items):
            return plain
        seen_duplicates.append(True)
        counts = Counter(key for key, _ in items)
        return _Pairs(items, {key: count for key, count in counts.items() if count > 1})

    def integer(text: str) -> int | AbsurdNumber:
        return int(text) if len(text.lstrip("-")) <= MAX_INT_DIGITS else AbsurdNumber(text)

    try:
        with source.open(encoding="utf-8") as fh:
            document = json.load(fh, object_pairs_hook=pairs, parse_int=integer)
    except RecursionError as exc:
        raise InvalidInput(f"cannot read the JSON dump {str(source)!r}: nested too deep to parse") from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise InvalidInput(f"cannot read the JSON dump {str(source)!r}: {exc}") from exc
    if not isinstance(document, dict):
        kind = type(document).__name__
        raise InvalidInput(f"{str(source)!r} must hold a JSON object keyed by telegram id, not {kind}")
    top = document.duplicates if isinstance(document, _Pairs) else {}
    return Dump(dict(document), duplicate_ids=top, any_duplicates=bool(seen_duplicates))

