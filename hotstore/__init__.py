"""hotstore: Redis-fronted, SQL-backed state for multi-bot Telegram systems.

    from hotstore import HotStore

    async with await HotStore.open() as store:          # settings from the environment
        state = await store.bot("spin_bot").get_session(42)

This module is the public surface: everything the README uses is importable from here, and a test pins
``__all__``. The rooms behind it: :mod:`hotstore.core` (the hot store), :mod:`hotstore.durable` (SQL-only
domain services), :mod:`hotstore.writebehind` (flush, rebuild, sweep), :mod:`hotstore.compat` (the v4 facade),
:mod:`hotstore.integrations` (framework adapters) and :mod:`hotstore.cli` (the applications).
"""

from importlib.metadata import PackageNotFoundError, version

from hotstore.core.defaults import DEFAULT_SESSION, DEFAULT_STATS, default_session, default_stats
from hotstore.core.errors import (
    DomainError,
    HotstoreError,
    InsufficientAccess,
    InvalidInput,
    InvalidTransition,
    NotFound,
    PromocodeRejected,
    StoreFull,
    StoreUnavailable,
    UnsafeRedisConfig,
)
from hotstore.core.leaderboard import Board, Entry, Leaderboards
from hotstore.core.levels import LevelTable
from hotstore.core.settings import Settings
from hotstore.core.state import LevelUp, PatchResult, SessionState, UserState
from hotstore.core.store import UNSET, BotStore, HotStore
from hotstore.core.turn import Turn
from hotstore.durable import (
    Access,
    BadgeRecord,
    Badges,
    PaymentRecord,
    Payments,
    PromocodeRecord,
    Promocodes,
    Redemption,
    SubscriptionRecord,
    Tariff,
    TariffCatalog,
    TrainingHistory,
    TrainingRecord,
    TrainingRecorded,
    delete_user,
)
from hotstore.writebehind.flusher import InProcessFlusher

try:
    __version__ = version("hotstore")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "DEFAULT_SESSION",
    "DEFAULT_STATS",
    "UNSET",
    "Access",
    "BadgeRecord",
    "Badges",
    "Board",
    "BotStore",
    "DomainError",
    "Entry",
    "HotStore",
    "HotstoreError",
    "InProcessFlusher",
    "InsufficientAccess",
    "InvalidInput",
    "InvalidTransition",
    "Leaderboards",
    "LevelTable",
    "LevelUp",
    "NotFound",
    "PatchResult",
    "PaymentRecord",
    "Payments",
    "PromocodeRecord",
    "PromocodeRejected",
    "Promocodes",
    "Redemption",
    "SessionState",
    "Settings",
    "StoreFull",
    "StoreUnavailable",
    "SubscriptionRecord",
    "Tariff",
    "TariffCatalog",
    "TrainingHistory",
    "TrainingRecord",
    "TrainingRecorded",
    "Turn",
    "UnsafeRedisConfig",
    "UserState",
    "__version__",
    "default_session",
    "default_stats",
    "delete_user",
]
