"""The demo's simulated traffic: users chatting with several bots, earning XP, badges and subscriptions.

Each message is what a bot handler does: read the session (creating user and session on first contact),
patch the documents with increments, and usually award XP. Activity is skewed (a few users chat a lot), so
the leaderboard has a clear top. Durable actions go through ``hotstore.cli.demo.durable`` and are skipped when the
durable services are not available.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from typing import TYPE_CHECKING

from hotstore.cli.demo.durable import TARIFFS, DurableActions

if TYPE_CHECKING:
    from hotstore.core.store import HotStore

FIRST_TELEGRAM_ID = 700_000_001
FIRST_NAMES = ("Ann", "Boris", "Chen", "Dana", "Emil", "Fatima", "Goran", "Hana", "Ivan", "Jun", "Kemal", "Lena")
QUESTION_TYPES = ("open", "closed", "clarifying", "contextual")
XP_CHANCE = 0.7
TRAINING_CHANCE = 0.05
PURCHASE_CHANCE = 0.002


class Traffic:
    """Counts what the simulated users did; :meth:`chat_until` is one concurrent chat loop."""

    def __init__(self, store: HotStore, *, bots: int, users: int, seed: int | None = None) -> None:
        self.store = store
        self.bot_names = [f"demo_bot_{index + 1}" for index in range(bots)]
        self.telegram_ids = [FIRST_TELEGRAM_ID + index for index in range(users)]
        self.durable = DurableActions.discover(store)
        self._random = random.Random(seed)
        self.started = time.monotonic()
        self.stopped: float | None = None
        self.messages = 0
        self.xp_awarded = 0
        self.level_ups = 0
        self.trainings = 0

    async def chat_until(self, stop: asyncio.Event) -> None:
        """Send messages from random users to random bots until ``stop`` is set."""
        while not stop.is_set():
            await self.message()

    def pick_user(self) -> int:
        """A user, skewed towards the first ids (squared uniform: the lowest tenth sends about a third)."""
        index = int(len(self.telegram_ids) * self._random.random() ** 2)
        return self.telegram_ids[index]

    async def message(self) -> None:
        """One chat message: what a bot handler does on every update."""
        telegram_id = self.pick_user()
        bot_name = self._random.choice(self.bot_names)
        bot = self.store.bot(bot_name)
        first_name = FIRST_NAMES[telegram_id % len(FIRST_NAMES)]
        await bot.get_session(telegram_id, username=f"user{telegram_id}", first_name=first_name)
        question_type = self._random.choice(QUESTION_TYPES)
        await bot.patch_session(
            telegram_id,
            session={"chat_state": "training_active", "last_question_type": question_type},
            incr_session={"question_count": 1},
            incr_stats={"total_questions": 1},
        )
        self.messages += 1
        if self._random.random() < XP_CHANCE:
            await self._award_xp(bot_name, telegram_id)
        if self._random.random() < TRAINING_CHANCE:
            await self._finish_training(bot_name, telegram_id)
        if self._random.random() < PURCHASE_CHANCE:
            await self._buy(telegram_id)

    async def _award_xp(self, bot_name: str, telegram_id: int) -> None:
        amount = self._random.randint(5, 40)
        outcome = await self.store.bot(bot_name).add_xp(telegram_id, amount)
        self.xp_awarded += amount
        if outcome.leveled_up:
            self.level_ups += 1
            await self.durable.award_level_badge(telegram_id, bot_name, outcome.new_level)

    async def _finish_training(self, bot_name: str, telegram_id: int) -> None:
        score = self._random.randint(0, 100)
        await self.store.bot(bot_name).patch_session(
            telegram_id, session={"chat_state": "new"}, incr_stats={"total_trainings": 1},
            unset_session=("last_client_response",),
        )
        await self.durable.record_training(telegram_id, bot_name, score, self._random.randint(3, 12))
        self.trainings += 1

    async def _buy(self, telegram_id: int) -> None:
        payment_id = f"demo-{uuid.uuid4().hex}"  # unique across runs: a payment id is exactly-once forever
        await self.durable.buy_subscription(telegram_id, payment_id, self._random.choice(TARIFFS))

    def rate(self) -> float:
        """Messages per second while the traffic ran."""
        end = time.monotonic() if self.stopped is None else self.stopped
        return self.messages / max(end - self.started, 1e-9)

    def summary(self) -> str:
        """One line: what the simulated users did."""
        return (
            f"traffic: {self.messages} messages ({self.rate():.0f}/s), {self.xp_awarded} XP awarded, "
            f"{self.level_ups} level-ups, {self.trainings} trainings; {self.durable.summary()}"
        )
