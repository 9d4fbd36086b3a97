"""Property: over random grants, consumes and clock moves, consume_access agrees with check_access and no
balance goes negative; a simple model predicts every answer."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from persistence.engine import create_engine, sessionmaker_for
from persistence.enums import FreeTrainingSource, SubscriptionType
from persistence.models import Base, FreeTraining, Subscription
from persistence.repositories.subscriptions import SubscriptionRepository
from persistence.upsert import ensure_user_id

START = datetime(2026, 5, 1, tzinfo=UTC)
_ids = itertools.count(1_000)

Step = tuple[str, int]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("month"), st.integers(1, 40)),
        st.tuples(st.just("credits"), st.integers(1, 3)),
        st.tuples(st.just("free"), st.integers(0, 2)),
        st.tuples(st.just("consume"), st.just(0)),
        st.tuples(st.just("advance_hours"), st.integers(1, 24 * 45)),
    ),
    max_size=25,
)
SOURCES = list(FreeTrainingSource)


@dataclass
class Model:
    """What the access should be: time subscription end, credits, free trainings."""

    now: datetime = START
    end: datetime | None = None
    credits: int = 0
    free: dict[FreeTrainingSource, int] = field(default_factory=dict)

    def has_access(self) -> bool:
        return (self.end is not None and self.end > self.now) or self.credits > 0 or sum(self.free.values()) > 0


async def run_scenario(engine: AsyncEngine, plan: list[Step]) -> None:
    telegram_id = next(_ids)
    model = Model()
    sessions = sessionmaker_for(engine)

    async def call(action: str, argument: int = 0) -> object:
        async with sessions.begin() as session:
            repo = SubscriptionRepository(session, now=lambda: model.now)
            return await apply(repo, session, telegram_id, action, argument)

    await call("create_user")
    for action, argument in plan:
        if action == "advance_hours":
            model.now += timedelta(hours=argument)
            continue
        if action == "consume":
            said = await call("check")
            assert isinstance(said, dict)
            assert said["has_access"] == model.has_access()
            consumed = await call("consume")
            assert consumed == said["has_access"], "consume must agree with the check just before it"
            spend(model)
        else:
            await call(action, argument)
            grant(model, action, argument)
        assert await call("balances_non_negative") is True


async def apply(repo: SubscriptionRepository, session: AsyncSession, tg: int, action: str, arg: int) -> object:
    if action == "create_user":
        return await ensure_user_id(session, tg)
    if action == "check":
        return await repo.check_access(tg)
    if action == "consume":
        return await repo.consume_access(tg)
    if action == "month":
        return await repo.create_subscription(tg, SubscriptionType.MONTH, duration_days=arg)
    if action == "credits":
        return await repo.create_subscription(tg, SubscriptionType.CREDITS, credits=arg)
    if action == "free":
        return await repo.add_free_trainings(tg, 1, SOURCES[arg])
    credits = (await session.execute(select(Subscription.credits_left))).scalars().all()
    trainings = (await session.execute(select(FreeTraining.trainings_left))).scalars().all()
    return all(c is None or c >= 0 for c in credits) and all(t >= 0 for t in trainings)


def grant(model: Model, action: str, argument: int) -> None:
    if action == "month":
        base = model.end if model.end is not None and model.end > model.now else model.now
        model.end = base + timedelta(days=argument)
    elif action == "credits":
        model.credits += argument
    else:
        source = SOURCES[argument]
        model.free[source] = model.free.get(source, 0) + 1


def spend(model: Model) -> None:
    if model.end is not None and model.end > model.now:
        return
    if model.credits > 0:
        model.credits -= 1
        return
    for source, left in model.free.items():
        if left > 0:
            model.free[source] = left - 1
            return


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=steps)
def test_consume_agrees_with_check_and_balances_stay_non_negative(sql_url: str, plan: list[Step]) -> None:
    async def main() -> None:
        engine = create_engine(sql_url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(Base.metadata.create_all)
            await run_scenario(engine, plan)
        finally:
            await engine.dispose()

    asyncio.run(main())
