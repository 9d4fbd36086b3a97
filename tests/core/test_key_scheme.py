"""The hot path's shortcuts of the key scheme build the same keys and week labels as the scheme's own methods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hotstore.core import keys as key_module
from hotstore.core.keys import KeyScheme, current_week, iso_week


@pytest.mark.parametrize("scheme", [KeyScheme("hs"), KeyScheme("bot_farm-2", shards=7), KeyScheme("x", shards=1)])
@pytest.mark.parametrize("telegram_id", [1, 63, 64, 5_000_000_001, 2**62 + 5])
def test_turn_keys_are_the_schemes_own_keys(scheme: KeyScheme, telegram_id: int) -> None:
    assert scheme.turn_keys("spin_bot", telegram_id) == [
        scheme.user(telegram_id),
        scheme.session("spin_bot", telegram_id),
        scheme.user_dirty_set(telegram_id),
        scheme.session_dirty_set(telegram_id),
        scheme.user_board_recheck(telegram_id),
    ]


def test_the_current_week_is_remembered_until_the_week_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    monday = datetime(2026, 11, 30, tzinfo=UTC)  # 2026-W49 starts
    monkeypatch.setattr(key_module, "_current_week", (0.0, 0.0, ""))
    for moment, expected in [
        (monday + timedelta(days=3, hours=5), "2026-W49"),
        (monday + timedelta(days=7) - timedelta(milliseconds=1), "2026-W49"),  # Sunday 23:59:59.999
        (monday + timedelta(days=7), "2026-W50"),  # Monday 00:00: the next week at once
        (monday - timedelta(milliseconds=1), "2026-W48"),  # a clock set back: recomputed, not the remembered week
        (datetime(2027, 1, 1, 12, tzinfo=UTC), "2026-W53"),  # ISO year differs from the calendar year
    ]:
        monkeypatch.setattr(key_module.time, "time", moment.timestamp)
        assert current_week() == expected == iso_week(moment), moment
