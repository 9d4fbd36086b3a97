"""Leaderboards: ordering, ties, ranks (ordinal and v4's competition rank), around-me, weekly boards."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from hotstore import Board, Entry, HotStore, InvalidInput

pytestmark = pytest.mark.on_cluster  # on a cluster each board is its own slot, written after the award script

# Scores 50, 30, 30, 30, 10: ties order by Telegram id ascending.
SCORES = {105: 50, 103: 30, 101: 30, 104: 30, 102: 10}


@pytest.fixture
async def ranked_store(hot_store: HotStore) -> HotStore:
    """A Redis-axis store where the users of ``SCORES`` earned their scores in the bot "spin"."""
    for telegram_id, score in SCORES.items():
        await hot_store.bot("spin").add_xp(telegram_id, score)
    return hot_store


async def test_page_orders_by_score_then_telegram_id(ranked_store: HotStore) -> None:
    page = await ranked_store.leaderboards.page(limit=10)
    assert page == [Entry(1, 105, 50), Entry(2, 101, 30), Entry(3, 103, 30), Entry(4, 104, 30), Entry(5, 102, 10)]


async def test_page_offset_keeps_ordinal_ranks(ranked_store: HotStore) -> None:
    assert await ranked_store.leaderboards.page(limit=2, offset=2) == [Entry(3, 103, 30), Entry(4, 104, 30)]


async def test_page_past_the_end_is_empty(ranked_store: HotStore) -> None:
    assert await ranked_store.leaderboards.page(offset=50) == []


async def test_rank_is_ordinal_with_ties_by_telegram_id(ranked_store: HotStore) -> None:
    ranks = [await ranked_store.leaderboards.rank(tg) for tg in (105, 101, 103, 104, 102)]
    assert ranks == [1, 2, 3, 4, 5]


async def test_competition_rank_shares_ranks_on_ties_like_v4(ranked_store: HotStore) -> None:
    ranks = [await ranked_store.leaderboards.competition_rank(tg) for tg in (105, 101, 103, 104, 102)]
    assert ranks == [1, 2, 2, 2, 5]


async def test_unknown_user_has_no_rank_score_or_neighbours(ranked_store: HotStore) -> None:
    boards = ranked_store.leaderboards
    assert (await boards.rank(999), await boards.competition_rank(999), await boards.score(999)) == (None, None, None)
    assert await boards.around(999) == []


async def test_around_returns_neighbours_within_radius(ranked_store: HotStore) -> None:
    around = await ranked_store.leaderboards.around(103, radius=1)
    assert around == [Entry(2, 101, 30), Entry(3, 103, 30), Entry(4, 104, 30)]


async def test_around_at_the_top_starts_at_rank_one(ranked_store: HotStore) -> None:
    around = await ranked_store.leaderboards.around(105, radius=2)
    assert [entry.rank for entry in around] == [1, 2, 3]


async def test_count_and_score(ranked_store: HotStore) -> None:
    assert await ranked_store.leaderboards.count() == 5
    assert await ranked_store.leaderboards.score(103) == 30


async def test_bot_boards_count_only_that_bots_xp(ranked_store: HotStore) -> None:
    await ranked_store.bot("other").add_xp(102, 100)
    assert await ranked_store.leaderboards.page(Board.bot("other")) == [Entry(1, 102, 100)]
    assert await ranked_store.leaderboards.score(102, Board.global_()) == 110
    assert await ranked_store.leaderboards.score(102, Board.bot("spin")) == 10


async def test_the_current_week_board_holds_this_weeks_xp(ranked_store: HotStore) -> None:
    today = datetime.now(UTC).date()
    assert await ranked_store.leaderboards.count(Board.week()) == 5
    assert await ranked_store.leaderboards.score(105, Board.week(today)) == 50
    assert await ranked_store.leaderboards.count(Board.week("2001-W01")) == 0


def test_week_boards_name_the_iso_week() -> None:
    assert Board.week(date(2026, 1, 1)) == Board.week("2026-W01")


@pytest.mark.parametrize("week", ["2026-W54", "2026-W00", "26-W01", "x", 5])
def test_bad_week_names_are_refused(week: object) -> None:
    with pytest.raises(InvalidInput):
        Board.week(week)  # type: ignore[arg-type]


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (1001, 0), (10, -1), ("10", 0)])
async def test_bad_pages_are_refused(ranked_store: HotStore, limit: object, offset: object) -> None:
    with pytest.raises(InvalidInput):
        await ranked_store.leaderboards.page(limit=limit, offset=offset)  # type: ignore[arg-type]


async def test_a_board_must_be_a_board(ranked_store: HotStore) -> None:
    with pytest.raises(InvalidInput):
        await ranked_store.leaderboards.count("lb:g")  # type: ignore[arg-type]
