"""The rows of the per-message turn: ``bot.turn``, its 2-round-trip redis-py floor, and the cold pass.

- ``bot.turn``: enter (one script: user and session), change the session as a question message does, award XP,
  leave (one script: the changed keys, XP, level, boards). Two round trips per message.
- The 2-round-trip floor: what a hand-written redis-py bot does with the same data in two round trips: one
  pipeline of ``HGETALL`` user and session, then one Lua script that writes the changed session fields, bumps the
  versions, marks both dirty, adds XP to user and session, raises the level and updates the three boards. No
  validation, no read-through, stock redis-py (its own packer, no pipelining across tasks).
- The cold pass: the v4 facade on users that are in neither Redis nor SQL: every message is a first contact
  (read-through from SQL, user and session created), in a fresh namespace per round.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from hotstore.cli.bench.baselines import delete_namespace
from hotstore.cli.bench.counting import RoundTrips, counting_redis
from hotstore.cli.bench.floor import fill_floor
from hotstore.cli.bench.report import FLOOR2, SEQUENTIAL
from hotstore.cli.bench.workload import Contender, RunResult, Workload, next_session, run_path
from hotstore.core import constants as c
from hotstore.core.autopipeline import AutoPipelineRedis
from hotstore.core.codec import decode_documents, encode_document
from hotstore.core.keys import KeyScheme, board_member, iso_week, session_member
from hotstore.core.settings import Settings
from hotstore.core.store import BotStore, HotStore

FIRST_COLD_ID = 8_000_000_000  # above the workload's ids: never seeded

# KEYS: user, session, dirty users, dirty sessions, global, bot, week board.
# ARGV: now ms, user member, session member, board member, xp, n, n field/value pairs.
FLOOR_WRITE = """
local n = tonumber(ARGV[6])
if n > 0 then
  local pairs = {}
  for i = 7, 6 + 2 * n do pairs[#pairs + 1] = ARGV[i] end
  redis.call('HSET', KEYS[2], unpack(pairs))
end
local xp = tonumber(ARGV[5])
local total = redis.call('HINCRBY', KEYS[1], 'xp', xp)
local bot_xp = redis.call('HINCRBY', KEYS[2], 'xp', xp)
local level = math.min(math.floor(total / 100) + 1, 100)
if level > tonumber(redis.call('HGET', KEYS[1], 'lvl') or '1') then redis.call('HSET', KEYS[1], 'lvl', level) end
redis.call('HSET', KEYS[2], 'ua', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('HINCRBY', KEYS[2], 'v', 1)
redis.call('ZADD', KEYS[3], 'NX', ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[4], 'NX', ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[5], total, ARGV[4])
redis.call('ZADD', KEYS[6], bot_xp, ARGV[4])
redis.call('ZINCRBY', KEYS[7], xp, ARGV[4])
return level
"""


class FloorTwoTrips:
    """The 2-round-trip floor's message (a :data:`~hotstore.cli.bench.workload.MessageFn`)."""

    def __init__(self, redis: Any, keys: KeyScheme) -> None:
        self.redis = redis
        self.keys = keys
        self.week = keys.weekly_board(iso_week(datetime.now(UTC)))
        self.write = redis.register_script(FLOOR_WRITE)

    async def __call__(self, telegram_id: int, bot: str, xp: int, latencies: list[float]) -> None:
        keys = self.keys
        start = time.perf_counter()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.user(telegram_id))
            pipe.hgetall(keys.session(bot, telegram_id))
            _user, fields = await pipe.execute()
        session, _stats = decode_documents(fields)
        before = encode_document(c.SESSION_FIELD_PREFIX, session)
        after = encode_document(c.SESSION_FIELD_PREFIX, next_session(session, telegram_id))
        changed = [part for name, value in after.items() if before.get(name) != value for part in (name, value)]
        middle = time.perf_counter()
        await self.write(
            keys=[keys.user(telegram_id), keys.session(bot, telegram_id), keys.user_dirty_set(telegram_id),
                  keys.session_dirty_set(telegram_id), keys.global_board, keys.bot_board(bot), self.week],
            args=[int(time.time() * 1000), str(telegram_id), session_member(bot, telegram_id),
                  board_member(telegram_id), xp, len(changed) // 2, *changed],
        )
        latencies.extend((middle - start, time.perf_counter() - middle))


@asynccontextmanager
async def floor_two_trips(redis_url: str, workload: Workload) -> AsyncIterator[list[Contender]]:
    """The 2-round-trip floor at the workload's concurrency and at concurrency 1, in a namespace of its own,
    filled (untimed) and deleted on exit."""
    counter = RoundTrips()
    redis = counting_redis(redis_url, counter)
    keys = KeyScheme(f"bench{uuid.uuid4().hex[:10]}")
    try:
        await fill_floor(redis, keys, workload)
        message = FloorTwoTrips(redis, keys)
        yield [Contender(FLOOR2, None, counter, message=message),
               Contender(FLOOR2 + SEQUENTIAL, None, counter, message=message, concurrency=1)]
    finally:
        await delete_namespace(redis, keys)
        await redis.aclose()


class TurnMessage:
    """``bot.turn``'s message: read, change the session as a question message does, award XP, write."""

    def __init__(self, store: HotStore) -> None:
        self.store = store
        self._bots: dict[str, BotStore] = {}

    async def __call__(self, telegram_id: int, bot: str, xp: int, latencies: list[float]) -> None:
        handle = self._bots.get(bot) or self._bots.setdefault(bot, self.store.bot(bot))
        start = time.perf_counter()
        async with handle.turn(telegram_id, username=f"user{telegram_id}") as turn:
            turn.session.update(next_session(turn.session, telegram_id))
            turn.add_xp(xp)
        latencies.append(time.perf_counter() - start)  # one sample per turn: its two round trips


class ColdPass(Contender):
    """The v4 facade where every message meets a new user: a fresh namespace and fresh ids every round, on an
    auto-pipelined client (the default settings), SQL on ``engine``."""

    def __init__(self, name: str, redis_url: str, engine: AsyncEngine, counter: Callable[[], int],
                 redis_trips: RoundTrips, facade: Callable[[HotStore, str], Any]) -> None:
        super().__init__(name, None, counter)
        self.redis_url, self.engine, self.redis_trips = redis_url, engine, redis_trips
        self.facade = facade  # (store, bot name) → a DatabaseService bound to that store
        self._next_id = FIRST_COLD_ID

    async def run(self, workload: Workload) -> RunResult:
        first, self._next_id = self._next_id, self._next_id + workload.messages
        bots = workload.bot_names
        sequence = [(first + i, bots[i % len(bots)]) for i in range(workload.messages)]
        redis = counting_redis(self.redis_url, self.redis_trips, client_class=AutoPipelineRedis, fast_pack=True)
        settings = Settings(redis_url=self.redis_url, database_url=self.engine.url.render_as_string(False),
                            namespace=f"bench{uuid.uuid4().hex[:10]}")
        store = await HotStore.open(settings, redis=redis, engine=self.engine)
        try:
            services = {bot: self.facade(store, bot) for bot in bots}

            async def message(telegram_id: int, bot: str, xp: int, latencies: list[float]) -> None:
                service = services[bot]
                start = time.perf_counter()
                state = await service.get_user_session(telegram_id, username=f"user{telegram_id}")
                middle = time.perf_counter()
                await service.save_session(telegram_id, next_session(state["session"], telegram_id), state["stats"])
                end = time.perf_counter()
                await service.add_xp_and_check_level_up(telegram_id, xp)
                latencies.extend((middle - start, end - middle, time.perf_counter() - end))

            return await run_path(self.name, message, workload, self.counter, sequence)
        finally:
            await delete_namespace(store.redis, store.keys)
            await store.close()
            await redis.aclose()
