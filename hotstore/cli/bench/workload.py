"""The per-message workload every benchmark row runs, and the harness that times it.

A *message* is the per-message path of a v4 bot: get the session, save it back changed, award XP (with the
level check and, where the store keeps them, the leaderboards). The message sequence is drawn from a seeded
random generator, so every row of one run sees the same users, bots and order.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from persistence.defaults import default_session, default_stats

QUESTION_TYPES = ("situational", "problem", "implication", "need_payoff")
FIRST_TELEGRAM_ID = 5_000_000_000  # realistic 10-digit ids, above 2^32


@dataclass(frozen=True)
class Workload:
    """What one benchmark run does: ``messages`` messages over ``users`` users and ``bots`` bots."""

    users: int = 10_000
    bots: int = 2
    messages: int = 10_000
    concurrency: int = 32
    xp_per_message: int = 10
    seed: int = 8

    @property
    def bot_names(self) -> list[str]:
        return [f"bench_bot_{i}" for i in range(self.bots)]

    def telegram_ids(self) -> list[int]:
        return [FIRST_TELEGRAM_ID + i for i in range(self.users)]

    def sequence(self) -> list[tuple[int, str]]:
        """The ``(telegram_id, bot_name)`` of every message, in order (the same for every row)."""
        rng = random.Random(self.seed)
        bots = self.bot_names
        return [(FIRST_TELEGRAM_ID + rng.randrange(self.users), rng.choice(bots)) for _ in range(self.messages)]


class MessagePath(Protocol):
    """One way to run the per-message path; each method is one call of the bot's data layer."""

    async def get_session(self, telegram_id: int, bot: str) -> tuple[dict[str, Any], dict[str, Any]]: ...

    async def save_session(
        self, telegram_id: int, bot: str, session: dict[str, Any], stats: dict[str, Any]
    ) -> None: ...

    async def add_xp(self, telegram_id: int, bot: str, xp: int) -> int: ...


def next_session(session: dict[str, Any], telegram_id: int) -> dict[str, Any]:
    """What a bot does to its session on a question message: count it, remember it."""
    changed = dict(session) if session else default_session()
    qtype = QUESTION_TYPES[(int(changed.get("question_count") or 0) + telegram_id) % len(QUESTION_TYPES)]
    counts = dict(changed.get("per_type_counts") or {})
    counts[qtype] = int(counts.get(qtype, 0)) + 1
    changed.update(
        chat_state="training_active",
        question_count=int(changed.get("question_count") or 0) + 1,
        per_type_counts=counts,
        last_question_type=qtype,
        last_client_response="Да, сейчас у нас около сорока менеджеров, и мы думаем о расширении отдела.",
        client_case="Оптовая компания, 40 менеджеров, CRM внедрена частично",
    )
    return changed


def initial_documents() -> tuple[dict[str, Any], dict[str, Any]]:
    """The documents every benchmarked session starts from (v4's defaults)."""
    return default_session(), default_stats()


@dataclass
class RunResult:
    """What one row measured."""

    name: str
    messages: int
    elapsed_s: float
    latencies_s: list[float] = field(default_factory=list)
    round_trips: int = 0
    retries: int = 0
    note: str = ""

    @property
    def rate(self) -> float:
        return self.messages / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        if not self.latencies_s:
            return 0.0
        ordered = sorted(self.latencies_s)
        index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
        return ordered[index] * 1000

    @property
    def round_trips_per_message(self) -> float:
        return self.round_trips / self.messages if self.messages else 0.0


async def _timed(latencies: list[float], call: Awaitable[Any]) -> Any:
    start = time.perf_counter()
    result = await call
    latencies.append(time.perf_counter() - start)
    return result


async def one_message(path: MessagePath, telegram_id: int, bot: str, xp: int, latencies: list[float]) -> None:
    """get → change → save → add XP: the per-message path of a v4 bot."""
    session, stats = await _timed(latencies, path.get_session(telegram_id, bot))
    await _timed(latencies, path.save_session(telegram_id, bot, next_session(session, telegram_id), stats))
    await _timed(latencies, path.add_xp(telegram_id, bot, xp))


async def drive(
    messages: Sequence[tuple[int, str]],
    concurrency: int,
    handle: Callable[[int, str], Awaitable[None]],
) -> float:
    """Run ``handle`` on every message with ``concurrency`` tasks; returns the wall time in seconds."""
    cursor = iter(messages)

    async def worker() -> None:
        for telegram_id, bot in cursor:  # tasks share one iterator: each message is handled once
            await handle(telegram_id, bot)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    return time.perf_counter() - start


# One whole message in one function (a row whose message is not get + save + add XP, such as bot.turn):
# (telegram id, bot, xp, latencies) → None, appending the latency of each call it makes.
MessageFn = Callable[[int, str, int, list[float]], Awaitable[None]]


@dataclass
class Contender:
    """A row that runs in rounds: its path (or whole-message function), its round-trip counter, an optional note
    after each run, and an optional concurrency of its own (the sequential rows)."""

    name: str
    path: MessagePath | None
    counter: Callable[[], int]
    note: Callable[[RunResult], str] | None = None
    message: MessageFn | None = None
    concurrency: int | None = None
    begin: Callable[[], None] | None = None  # called before each run (counters the note reads)

    async def run(self, workload: Workload) -> RunResult:
        if self.begin is not None:
            self.begin()
        if self.concurrency is not None:
            workload = replace(workload, concurrency=self.concurrency)
        result = await run_path(self.name, self._message(), workload, self.counter)
        if self.note is not None:
            result.note = self.note(result)
        return result

    def _message(self) -> MessageFn:
        if self.message is not None:
            return self.message
        path = self.path
        assert path is not None, "a Contender needs a path or a message function"

        async def message(telegram_id: int, bot: str, xp: int, latencies: list[float]) -> None:
            await one_message(path, telegram_id, bot, xp, latencies)

        return message


async def run_rounds(contenders: Sequence[Contender], workload: Workload, rounds: int) -> list[RunResult]:
    """Run every contender ``rounds`` times, interleaved (A B C A B C …), and keep each one's fastest round.

    Interleaving spreads the noise of a shared machine over all rows instead of charging it to whichever row
    happened to run during a burst; the best round is the estimate least disturbed by other processes.
    """
    best: dict[str, RunResult] = {}
    priming = replace(workload, messages=min(workload.messages, 4 * workload.concurrency))
    for contender in contenders:  # untimed: open the pool's connections, load the scripts
        await contender.run(priming)
    for _ in range(max(1, rounds)):
        for contender in contenders:
            result = await contender.run(workload)
            if contender.name not in best or result.rate > best[contender.name].rate:
                best[contender.name] = result
    return [best[contender.name] for contender in contenders]


async def run_path(name: str, message: MessageFn, workload: Workload, counter: Callable[[], int],
                   sequence: Sequence[tuple[int, str]] | None = None) -> RunResult:
    """Time ``workload`` (or ``sequence``) through ``message``; ``counter`` returns the round trips made so far."""
    latencies: list[float] = []
    before = counter()
    messages = workload.sequence() if sequence is None else sequence

    async def handle(telegram_id: int, bot: str) -> None:
        await message(telegram_id, bot, workload.xp_per_message, latencies)

    elapsed = await drive(messages, workload.concurrency, handle)
    return RunResult(name, len(messages), elapsed, latencies, counter() - before)


async def warm_up(path: MessagePath, workload: Workload) -> None:
    """First contact of every (user, bot) pair, untimed: later reads are warm, as in a running bot farm."""
    pairs = [(tg, bot) for tg in workload.telegram_ids() for bot in workload.bot_names]

    async def handle(telegram_id: int, bot: str) -> None:
        await path.get_session(telegram_id, bot)

    await drive(pairs, workload.concurrency, handle)
