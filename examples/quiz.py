"""The quiz both example bots play, on hotstore: questions, XP per right answer, a badge on the first win, the
leaderboard and a test payment. Framework-free: aiogram_quiz.py and ptb_quiz.py call it from their handlers."""

from __future__ import annotations

from hotstore import Board, BotStore
from hotstore.durable import Badges, Payments

QUESTIONS = [("2 + 2 = ?", "4"), ("The capital of France?", "paris"), ("7 × 6 = ?", "42")]
XP_PER_RIGHT_ANSWER = 10
FIRST_WIN_BADGE = "first_win"
TEST_PROVIDER = "telegram-test"
TEST_TARIFF, TEST_AMOUNT = "month", "990.00"


def question(index: int) -> str:
    return f"Question {index + 1}/{len(QUESTIONS)}: {QUESTIONS[index][0]}"


def is_right(index: int, answer: str | None) -> bool:
    return (answer or "").strip().lower() == QUESTIONS[index][1]


async def answered(bot: BotStore, telegram_id: int, index: int, answer: str | None) -> tuple[bool, str]:
    """Check one answer; a right one earns XP (user total, bot XP and every leaderboard in one step)."""
    if not is_right(index, answer):
        return False, f"Wrong: {QUESTIONS[index][1]}."
    result = await bot.add_xp(telegram_id, XP_PER_RIGHT_ANSWER)
    level = f" Level {result.new_level}!" if result.leveled_up else ""
    return True, f"Right! +{XP_PER_RIGHT_ANSWER} XP ({result.bot_xp} in this quiz).{level}"


async def finished(bot: BotStore, telegram_id: int, right: int) -> str:
    """The end of a round: a win (every answer right) earns the first-win badge, once per user and bot."""
    summary = f"Done: {right}/{len(QUESTIONS)} right."
    if right == len(QUESTIONS) and await Badges(bot.store).award(telegram_id, FIRST_WIN_BADGE, bot_name=bot.name):
        summary += " 🏅 Badge: first win!"
    return summary


async def top(bot: BotStore) -> str:
    entries = await bot.store.leaderboards.page(Board.bot(bot.name), limit=10)
    if not entries:
        return "No scores yet: /quiz"
    return "\n".join(f"{entry.rank}. user {entry.telegram_id}: {entry.score} XP" for entry in entries)


async def buy(bot: BotStore, telegram_id: int, payment_id: str) -> str:
    """Record a test payment and complete it (as a provider's webhook would): the tariff is granted exactly once."""
    payments = Payments(bot.store)
    await payments.record(telegram_id, provider=TEST_PROVIDER, payment_id=payment_id, amount=TEST_AMOUNT,
                          tariff=TEST_TARIFF, description=f"{bot.name} test purchase")
    payment = await payments.complete(TEST_PROVIDER, payment_id)
    return f"Payment {payment_id}: {payment.status.name.lower()}, {payment.granted_days} days of access."
