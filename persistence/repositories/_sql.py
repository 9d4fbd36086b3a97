"""Small helpers shared by the repositories."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy.engine import CursorResult, Result

from persistence.clock import utc_now

__all__ = ["changed_rows", "utc_now"]


def changed_rows(result: Result[Any]) -> int:
    """Rows matched by an ``UPDATE``/``DELETE`` (DML results are cursor results)."""
    return int(cast(CursorResult[Any], result).rowcount)
