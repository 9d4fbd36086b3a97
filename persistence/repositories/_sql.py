"""Small helpers shared by the repositories."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy.engine import CursorResult, Result


def utc_now() -> datetime:
    """The current time as an aware UTC datetime (bound through ``UTCDateTime``, so both backends agree)."""
    return datetime.now(UTC)


def changed_rows(result: Result[Any]) -> int:
    """Rows matched by an ``UPDATE``/``DELETE`` (DML results are cursor results)."""
    return int(cast(CursorResult[Any], result).rowcount)
