"""How the ``hotstore`` commands write: ``rich`` tables for people, JSON for machines, both UTF-8.

- Text is written as it is (Cyrillic stays Cyrillic, in tables and in JSON: ``ensure_ascii=False``); values from
  the store go into tables as plain :class:`rich.text.Text`, so ``[brackets]`` or ``:codes:`` in a user's session
  are shown, never interpreted as markup or emoji.
- Enums are shown by their names (``PENDING``), datetimes in UTC ISO 8601 (``2026-05-01T12:00:00Z``; a naive
  datetime from SQLite is UTC), ``Decimal`` as its digits.
- Output that is not a terminal (a pipe, a file, a test's capture) gets no colours and no cursor codes; a narrow
  terminal gets wrapped cells, not cut ones.
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from rich.console import Console, RenderableType
from rich.text import Text

NONE_SHOWN = "—"


def ensure_utf8_stdout() -> None:
    """Write UTF-8 whatever the locale says (a C locale would otherwise refuse Cyrillic)."""
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if encoding != "utf8" and reconfigure is not None:
        reconfigure(encoding="utf-8")


def console(*, record: bool = False, width: int | None = None) -> Console:
    """A console on the current ``sys.stdout``: no syntax highlighting, no emoji codes, no markup surprises."""
    ensure_utf8_stdout()
    return Console(file=sys.stdout, highlight=False, emoji=False, record=record, width=width)


def print_renderable(renderable: RenderableType) -> None:
    console().print(renderable)


def iso_utc(moment: datetime, *, timespec: str = "auto") -> str:
    """``moment`` in UTC, ISO 8601 with a ``Z``; a naive datetime is taken as UTC."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.isoformat(timespec=timespec).replace("+00:00", "Z")


def iso_from_ms(epoch_ms: float) -> str:
    return iso_utc(datetime.fromtimestamp(epoch_ms / 1000, tz=UTC), timespec="seconds")


def plain(value: Any) -> Any:
    """``json.dumps``'s ``default``: enum → name, datetime → UTC ISO, Decimal → digits, bytes → text."""
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def dumps_json(value: Any, *, sort_keys: bool = True) -> str:
    """JSON for machines: indented, UTF-8 text unescaped, values through :func:`plain`."""
    return json.dumps(value, default=plain, ensure_ascii=False, indent=2, sort_keys=sort_keys)


def shown(value: Any) -> str:
    """One value as a person reads it in a table cell."""
    if value is None:
        return NONE_SHOWN
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=plain, ensure_ascii=False, sort_keys=isinstance(value, Mapping))
    if isinstance(value, datetime):
        return iso_utc(value, timespec="seconds")
    if isinstance(value, enum.Enum | Decimal | date | bytes):
        return str(plain(value))
    return str(value)


def cell(value: Any, style: str = "") -> Text:
    """A table cell holding ``value`` as literal text."""
    return Text(shown(value), style=style)


def ago(seconds: float | None) -> str:
    """``12.3 s`` / ``4 min 5 s`` / ``2 h 3 min``; ``—`` for None."""
    if seconds is None:
        return NONE_SHOWN
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def size(n_bytes: int | None) -> str:
    """``512 B`` / ``1.5 MiB``; ``—`` for None."""
    if n_bytes is None:
        return NONE_SHOWN
    amount = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} TiB"  # pragma: no cover - the loop returns at GiB
