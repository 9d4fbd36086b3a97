"""What ``hotstore flush``, ``status``, ``repair-boards`` and ``migrate-layout`` do, over one
:class:`~hotstore.writebehind.runner.WriteBehind`.

Both have async twins for callers already inside an event loop (the demo, tests).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from hotstore.core.errors import HotstoreError
from hotstore.core.settings import Settings
from hotstore.writebehind.board_repair import BoardRepairReport, LeaseHeld, repair_boards, repair_boards_under_lease
from hotstore.writebehind.runner import WriteBehind


async def flush_all_async(settings: Settings) -> int:
    """Drain everything dirty now; 0 when nothing dirty remains, 1 otherwise (the reason on stderr)."""
    cycle = WriteBehind.open(settings)
    try:
        totals = await cycle.flush_everything()
    except Exception as exc:
        print(f"hotstore flush: failed, entities stay dirty in Redis: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        await cycle.close()
    if totals.remaining:
        print(
            f"hotstore flush: {totals.remaining} entities are still dirty (rewritten or refused while flushing); "
            "run it again, or see hotstore status",
            file=sys.stderr,
        )
        return 1
    print(f"hotstore flush: {totals.rows} rows written, nothing dirty remains")
    return 0


def flush_all(settings: Settings) -> int:
    """``hotstore flush``: :func:`flush_all_async` in a fresh event loop."""
    return asyncio.run(flush_all_async(settings))


async def status_async(settings: Settings) -> dict[str, Any]:
    """Dirty counts, the age of the oldest dirty entity (seconds, ``None`` if none) and the worker metrics."""
    cycle = WriteBehind.open(settings)
    try:
        return await cycle.status()
    finally:
        await cycle.close()


def status(settings: Settings) -> dict[str, Any]:
    """``hotstore status``: :func:`status_async` in a fresh event loop."""
    return asyncio.run(status_async(settings))


async def migrate_layout_async(settings: Settings, *, check: bool = False) -> int:
    """Upgrade the namespace from the single-tag layout (or, with ``check``, report what is left); 0 when the
    namespace is fully sharded (the layout marker set), 1 while single-tag keys remain."""
    from hotstore.writebehind.upgrade import migrate_layout

    cycle = WriteBehind.open(settings)
    try:
        report = await migrate_layout(cycle.redis, cycle.engine, settings, check=check)
    finally:
        await cycle.close()
    print(report.summary())
    return 0 if report.done else 1


def migrate_layout(settings: Settings, *, check: bool = False) -> int:
    """``hotstore migrate-layout``: :func:`migrate_layout_async` in a fresh event loop."""
    return asyncio.run(migrate_layout_async(settings, check=check))


class BoardRepairBusy(HotstoreError):
    """``hotstore repair-boards``: another worker holds the rebuild lease (a rebuild or a repair is running)."""


async def repair_boards_async(settings: Settings, *, check_only: bool) -> BoardRepairReport:
    """Compare every board with the entities; fix the differences unless ``check_only`` (the fix runs under the
    rebuild lease: :class:`BoardRepairBusy` while another worker holds it)."""
    cycle = WriteBehind.open(settings)
    try:
        if check_only:
            return await repair_boards(cycle.redis, cycle.engine, settings, check_only=True)
        try:
            return await repair_boards_under_lease(cycle.redis, cycle.engine, settings)
        except LeaseHeld as exc:
            raise BoardRepairBusy(str(exc)) from exc
    finally:
        await cycle.close()


def repair_boards_command(settings: Settings, *, check_only: bool) -> BoardRepairReport:
    """``hotstore repair-boards``: :func:`repair_boards_async` in a fresh event loop."""
    return asyncio.run(repair_boards_async(settings, check_only=check_only))
