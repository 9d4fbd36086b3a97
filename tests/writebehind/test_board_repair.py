"""Boards brought back in line from the entities: the flush's ZADD GT repair, the take-back recheck, the
``hotstore repair-boards`` command and job, and the weekly board's rebuild.

The module runs on fakeredis, the real Redis and the local Redis Cluster, where the award's board writes are a
second round trip after the award script (the ones these repairs exist for)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hotstore import HotStore
from hotstore.core import sessions
from hotstore.core.cluster import is_cluster
from hotstore.core.keys import board_member, iso_week, session_member
from hotstore.core.scripts import BOARD_RECHECK_SETTLE, Scripts
from hotstore.writebehind import board_scores as board_scores_module
from hotstore.writebehind.board_recheck import recheck_boards
from hotstore.writebehind.board_repair import repair_boards, repair_boards_if_due
from hotstore.writebehind.flush import drain
from hotstore.writebehind.rebuild import rebuild_boards
from hotstore.writebehind.runner import WriteBehind
from persistence.clock import now_ms
from tests.support.boards import (
    BOT,
    NOBODY,
    OTHER,
    TG,
    board_scores,
    cold_user,
    plant_board_errors,
    set_on_boards,
    this_week,
)

pytestmark = pytest.mark.on_cluster

# ---------------------------------------------------------------- the flush's ZADD GT repair


async def test_an_award_whose_board_write_was_lost_is_on_its_boards_after_one_flush(
    hot_store: HotStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = hot_store.bot(BOT)
    await bot.add_xp(TG, 10)
    if is_cluster(hot_store.redis):  # the board writes are the second round trip: lose them
        async def lost(*args: Any, **kwargs: Any) -> bool:
            return False

        monkeypatch.setattr(sessions, "write_award_scores", lost)
        await bot.add_xp(TG, 30)
        assert await board_scores(hot_store, TG) == (10, 10, 10)
    else:  # one script writes XP and boards together; lose the boards by hand
        await bot.add_xp(TG, 30)
        await set_on_boards(hot_store, TG, None)

    await drain(hot_store.redis, hot_store.engine, hot_store.settings)

    assert await board_scores(hot_store, TG) == (40, 40, 40)


async def test_the_flush_repair_never_lowers_a_board(hot_store: HotStore) -> None:
    await hot_store.bot(BOT).add_xp(TG, 25)
    await set_on_boards(hot_store, TG, 90)  # higher than the entities: GT leaves it (the recheck's job)

    await drain(hot_store.redis, hot_store.engine, hot_store.settings)

    assert await board_scores(hot_store, TG) == (90, 90, 90)


async def test_the_flush_repair_does_not_recreate_an_expired_weekly_board(hot_store: HotStore) -> None:
    old_week = iso_week(datetime.now(UTC) - timedelta(weeks=30))
    await hot_store.bot(BOT).add_xp(TG, 5)
    await hot_store.redis.hset(hot_store.keys.user(TG), mapping={"wk": old_week, "wx": 5})

    await drain(hot_store.redis, hot_store.engine, hot_store.settings)

    assert not await hot_store.redis.exists(hot_store.keys.weekly_board(old_week))


async def test_a_refused_board_repair_does_not_fail_the_flush(hot_store: HotStore) -> None:
    await hot_store.bot(BOT).add_xp(TG, 5)
    await hot_store.redis.delete(hot_store.keys.global_board)
    await hot_store.redis.set(hot_store.keys.global_board, "not a sorted set")  # every ZADD on it is refused

    totals = await drain(hot_store.redis, hot_store.engine, hot_store.settings)

    assert totals.remaining == 0 and totals.rows >= 2
    await hot_store.redis.delete(hot_store.keys.global_board)


# ---------------------------------------------------------------- take-backs and the recheck


async def test_a_take_back_is_put_in_its_shards_recheck_set(hot_store: HotStore) -> None:
    bot = hot_store.bot(BOT)
    await bot.add_xp(TG, 50)
    recheck = hot_store.keys.user_board_recheck(TG)
    assert await hot_store.redis.zcard(recheck) == 0  # an award is not

    await bot.add_xp(TG, -20)
    async with bot.turn(OTHER) as turn:
        turn.add_xp(5)
    async with bot.turn(OTHER) as turn:
        turn.add_xp(-2)

    assert await hot_store.redis.zscore(recheck, session_member(BOT, TG)) is not None
    assert await hot_store.redis.zscore(hot_store.keys.user_board_recheck(OTHER),
                                        session_member(BOT, OTHER)) is not None


async def test_a_stale_board_write_after_a_take_back_is_fixed_by_the_recheck(hot_store: HotStore) -> None:
    bot = hot_store.bot(BOT)
    await bot.add_xp(TG, 100)
    await bot.add_xp(TG, -30)
    await set_on_boards(hot_store, TG, 100)  # the award's write arriving after the take-back's
    await drain(hot_store.redis, hot_store.engine, hot_store.settings)  # GT cannot lower it
    assert await board_scores(hot_store, TG) == (100, 100, 100)
    scripts = Scripts(hot_store.redis)

    assert await recheck_boards(hot_store.redis, scripts, hot_store.settings, now=now_ms() - 60_000) == 0  # young
    settled = await recheck_boards(hot_store.redis, scripts, hot_store.settings, grace=0)

    assert settled == 1
    assert await board_scores(hot_store, TG) == (70, 70, 70)
    assert await hot_store.redis.zcard(hot_store.keys.user_board_recheck(TG)) == 0


async def test_the_recheck_waits_while_a_rebuild_holds_the_lease(hot_store: HotStore) -> None:
    await hot_store.bot(BOT).add_xp(TG, 10)
    await hot_store.bot(BOT).add_xp(TG, -5)
    await hot_store.redis.set(hot_store.keys.rebuild_lock, "someone")
    scripts = Scripts(hot_store.redis)

    assert await recheck_boards(hot_store.redis, scripts, hot_store.settings, grace=0) == 0
    assert await hot_store.redis.zcard(hot_store.keys.user_board_recheck(TG)) == 1
    await hot_store.redis.delete(hot_store.keys.rebuild_lock)


async def test_a_take_back_rescored_since_the_recheck_read_it_stays(hot_store: HotStore) -> None:
    recheck = hot_store.keys.user_board_recheck(TG)
    member = session_member(BOT, TG)
    await hot_store.redis.zadd(recheck, {member: 2000})

    removed = await Scripts(hot_store.redis).call(BOARD_RECHECK_SETTLE, [recheck], [member, 1000])

    assert removed == 0 and await hot_store.redis.zscore(recheck, member) == 2000
    assert await Scripts(hot_store.redis).call(BOARD_RECHECK_SETTLE, [recheck], [member, 2000]) == 1


async def test_a_recheck_of_a_user_no_longer_hot_writes_nothing_and_settles(hot_store: HotStore) -> None:
    recheck = hot_store.keys.user_board_recheck(NOBODY)
    await hot_store.redis.zadd(recheck, {session_member(BOT, NOBODY): 1000})

    assert await recheck_boards(hot_store.redis, Scripts(hot_store.redis), hot_store.settings, grace=0) == 1
    assert await board_scores(hot_store, NOBODY) == (None, None, None)


# ---------------------------------------------------------------- repair-boards


async def test_repair_finds_and_fixes_wrong_missing_and_extra_members(hot_store: HotStore) -> None:
    await plant_board_errors(hot_store)
    redis, engine, settings = hot_store.redis, hot_store.engine, hot_store.settings

    check = await repair_boards(redis, engine, settings, check_only=True)

    boards = check.as_dict()["boards"]
    assert boards["global"] == {"checked": 3, "fixed": 1, "added": 0, "removed": 1}
    assert boards[f"bot:{BOT}"] == {"checked": 2, "fixed": 0, "added": 1, "removed": 0}
    assert boards[f"week:{this_week()}"] == {"checked": 3, "fixed": 0, "added": 1, "removed": 1}
    assert await redis.zscore(settings.keys.global_board, board_member(TG)) == 400  # --check writes nothing

    fixed = await repair_boards(redis, engine, settings)

    assert fixed.differences == check.differences == 5
    assert await board_scores(hot_store, TG) == (40, 40, 40)
    assert await board_scores(hot_store, OTHER) == (60, 60, 60)
    assert await board_scores(hot_store, NOBODY) == (None, None, None)
    assert (await repair_boards(redis, engine, settings, check_only=True)).differences == 0


async def test_repair_fixes_a_board_left_high_by_a_take_back_of_a_cold_user(hot_store: HotStore) -> None:
    await cold_user(hot_store.engine, OTHER, total=20, bots={BOT: 20}, week=None, week_xp=0)
    await set_on_boards(hot_store, OTHER, 50)

    report = await repair_boards(hot_store.redis, hot_store.engine, hot_store.settings)

    assert report.as_dict()["boards"]["global"]["fixed"] == 1
    global_, bot_xp, _ = await board_scores(hot_store, OTHER)
    assert (global_, bot_xp) == (20, 20)
    # no XP this week: the weekly entry is set to the truth, 0
    assert await hot_store.redis.zscore(hot_store.keys.weekly_board(this_week()), board_member(OTHER)) == 0


async def test_the_repair_job_runs_once_per_interval_and_not_when_off(hot_store: HotStore) -> None:
    await plant_board_errors(hot_store)
    redis, engine, keys = hot_store.redis, hot_store.engine, hot_store.keys
    await redis.set(keys.boards_built, now_ms())  # the boards are not lost: no rebuild is due

    off = hot_store.settings.with_(board_repair_interval=0)
    assert await repair_boards_if_due(redis, engine, off) is None
    assert await redis.zscore(keys.global_board, board_member(TG)) == 400

    cycle = WriteBehind.open(hot_store.settings, redis=redis, engine=engine)
    first = await cycle.board_repair_tick()
    assert first is not None and first.differences == 5
    assert await redis.zscore(keys.global_board, board_member(TG)) == 40
    await redis.zadd(keys.global_board, {board_member(TG): 400})
    assert await cycle.board_repair_tick() is None  # the interval (an hour) has not passed
    assert await redis.zscore(keys.global_board, board_member(TG)) == 400


async def test_the_repair_job_leaves_lost_boards_to_the_rebuild(hot_store: HotStore) -> None:
    await hot_store.bot(BOT).add_xp(TG, 40)
    await hot_store.redis.delete(hot_store.keys.boards_built)

    assert await repair_boards_if_due(hot_store.redis, hot_store.engine, hot_store.settings) is None


# ---------------------------------------------------------------- the weekly board's rebuild


async def test_the_rebuild_builds_the_current_weeks_board_hot_week_xp_winning(hot_store: HotStore) -> None:
    week, last_week = this_week(), iso_week(datetime.now(UTC) - timedelta(weeks=1))
    await cold_user(hot_store.engine, OTHER, total=80, bots={}, week=week, week_xp=30)
    await cold_user(hot_store.engine, NOBODY, total=50, bots={}, week=last_week, week_xp=50)
    await cold_user(hot_store.engine, TG, total=10, bots={}, week=week, week_xp=10)
    await hot_store.bot(BOT).add_xp(TG, 15)  # loaded from SQL: hot week XP 25, newer than SQL's 10
    await hot_store.redis.delete(hot_store.keys.weekly_board(week))

    report = await rebuild_boards(hot_store.redis, hot_store.engine, hot_store.settings, chunk=1)

    board = hot_store.keys.weekly_board(week)
    assert report.boards[board] == 2
    found = await hot_store.redis.zrange(board, 0, -1, withscores=True)
    assert {m.decode(): s for m, s in found} == {board_member(TG): 25, board_member(OTHER): 30}



async def test_repair_writes_a_hot_sessions_bot_board_when_the_user_hash_is_gone(hot_store: HotStore) -> None:
    await hot_store.bot(BOT).add_xp(TG, 40)
    await drain(hot_store.redis, hot_store.engine, hot_store.settings)
    await hot_store.redis.delete(hot_store.keys.user(TG))  # evicted (clean); the session is still hot
    await hot_store.redis.zadd(hot_store.keys.bot_board(BOT), {board_member(TG): 400})

    report = await repair_boards(hot_store.redis, hot_store.engine, hot_store.settings)

    assert report.as_dict()["boards"][f"bot:{BOT}"]["fixed"] == 1
    assert await board_scores(hot_store, TG) == (40, 40, 40)


async def test_a_stable_write_overtaken_by_an_award_writes_again(
    hot_store: HotStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An award runs between the stable write's read and its write: the write of the value read is stale, the
    re-read sees the versions moved, and the next round writes the award's total."""
    bot = hot_store.bot(BOT)
    await bot.add_xp(TG, 100)
    await bot.add_xp(TG, -30)
    reads = 0
    original = board_scores_module._read

    async def read_then_award(*args: Any, **kwargs: Any) -> list[Any]:
        nonlocal reads
        found = await original(*args, **kwargs)
        reads += 1
        if reads == 1:
            await bot.add_xp(TG, 10)  # its board writes land before the stable write's stale 70
        return found

    monkeypatch.setattr(board_scores_module, "_read", read_then_award)

    settled = await recheck_boards(hot_store.redis, Scripts(hot_store.redis), hot_store.settings, grace=0)

    assert settled == 1 and reads == 3  # read, re-read (moved), re-read (stable)
    assert await board_scores(hot_store, TG) == (80, 80, 80)
