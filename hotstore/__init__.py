"""hotstore: Redis-fronted, SQL-backed state for multi-bot Telegram systems.

    from hotstore import HotStore

    async with await HotStore.open() as store:          # settings from the environment
        state = await store.bot("spin_bot").get_session(42)
"""

from hotstore.core.defaults import DEFAULT_SESSION, DEFAULT_STATS, default_session, default_stats
from hotstore.core.errors import HotstoreError, InvalidInput, NotFound, StoreUnavailable
from hotstore.core.leaderboard import Board, Entry, Leaderboards
from hotstore.core.levels import LevelTable
from hotstore.core.settings import Settings
from hotstore.core.state import LevelUp, PatchResult, SessionState, UserState
from hotstore.core.store import UNSET, BotStore, HotStore

__all__ = [
    "DEFAULT_SESSION",
    "DEFAULT_STATS",
    "UNSET",
    "Board",
    "BotStore",
    "Entry",
    "HotStore",
    "HotstoreError",
    "InvalidInput",
    "Leaderboards",
    "LevelTable",
    "LevelUp",
    "NotFound",
    "PatchResult",
    "SessionState",
    "Settings",
    "StoreUnavailable",
    "UserState",
    "default_session",
    "default_stats",
]
