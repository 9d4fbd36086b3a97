"""Helpers of the command-line tests: run ``hotstore`` in-process, read its tables, seed a namespace."""

from __future__ import annotations

import asyncio

import pytest

from hotstore.cli.main import main
from hotstore.core.settings import Settings
from hotstore.core.store import HotStore


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``hotstore argv…`` in-process: (exit status, stdout, stderr)."""
    try:
        status = main(list(argv))
    except SystemExit as exit_:
        status = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


def table_rows(out: str) -> list[list[str]]:
    """The words of each data row of the first table in ``out`` (the lines below its header rule)."""
    lines = out.splitlines()
    start = next(index for index, line in enumerate(lines) if line.strip().startswith("─")) + 1
    return [line.split() for line in lines[start:] if line.strip()]


def seed(settings: Settings, awards: dict[int, int], bot: str = "quiz_bot") -> None:
    """Users with usernames ``u<id>`` earning XP in ``bot``."""

    async def go() -> None:
        async with await HotStore.open(settings) as store:
            for telegram_id, xp in awards.items():
                await store.bot(bot).get_session(telegram_id, username=f"u{telegram_id}")
                await store.bot(bot).add_xp(telegram_id, xp)

    asyncio.run(go())
