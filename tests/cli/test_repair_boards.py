"""``hotstore repair-boards``: ``--check`` reports planted differences and exits 1 without writing; the repair fixes
them, and ``--check`` then passes. On fakeredis, the real Redis and the local Redis Cluster."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from hotstore.core.keys import board_member
from hotstore.core.settings import Settings
from hotstore.core.store import HotStore
from tests.support.boards import NOBODY, OTHER, TG, board_scores, plant_board_errors
from tests.support.cli import run_cli

pytestmark = pytest.mark.on_cluster


def _on_store(settings: Settings, work: Any) -> Any:
    async def go() -> Any:
        async with await HotStore.open(settings) as store:
            return await work(store)

    return asyncio.run(go())


def test_repair_boards_check_finds_differences_and_the_repair_fixes_them(
    capsys: pytest.CaptureFixture[str], cli_settings: Settings, cli_flags: list[str]
) -> None:
    _on_store(cli_settings, plant_board_errors)

    status, out, _ = run_cli(capsys, "repair-boards", "--check", "--json", *cli_flags)
    assert status == 1
    report = json.loads(out)
    assert report["differences"] == 5 and report["check_only"] is True

    async def global_score(store: HotStore) -> Any:
        return await store.redis.zscore(store.keys.global_board, board_member(TG))

    assert _on_store(cli_settings, global_score) == 400  # --check wrote nothing

    status, out, _ = run_cli(capsys, "repair-boards", *cli_flags)
    assert status == 0 and "5 differences fixed" in out

    async def all_scores(store: HotStore) -> Any:
        return [await board_scores(store, tg) for tg in (TG, OTHER, NOBODY)]

    assert _on_store(cli_settings, all_scores) == [(40, 40, 40), (60, 60, 60), (None, None, None)]
    status, out, _ = run_cli(capsys, "repair-boards", "--check", *cli_flags)
    assert status == 0 and "0 differences to fix" in out


def test_repair_boards_is_refused_while_another_worker_holds_the_rebuild_lease(
    capsys: pytest.CaptureFixture[str], cli_settings: Settings, cli_flags: list[str]
) -> None:
    async def hold(store: HotStore) -> None:
        await store.redis.set(store.keys.rebuild_lock, "another worker")

    _on_store(cli_settings, hold)

    status, _, err = run_cli(capsys, "repair-boards", *cli_flags)

    assert status == 1 and "rebuild lease is held" in err
