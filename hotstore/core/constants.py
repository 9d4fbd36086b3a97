"""Wire names and limits: hash fields, key-scheme limits, metric fields, the workers' leases and timings.

Environment variable names and their defaults live next to :class:`hotstore.core.settings.Settings`;
key names are built by :class:`hotstore.core.keys.KeyScheme`.
"""

from __future__ import annotations

# Limits of the key scheme, of Lua's number type, and of the level formula (v4's min(xp // 100 + 1, 100)).
BOT_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,50}$"
NAMESPACE_PATTERN = r"^[A-Za-z0-9_.-]{1,32}$"
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
LUA_EXACT_INT = 2**53  # Lua numbers are doubles: integers beyond this lose precision
MAX_XP_DELTA = 10**12
MAX_PAGE_LIMIT = 1000
DEFAULT_XP_PER_LEVEL = 100  # also inlined into add_xp.lua as F.DEFAULT_XP_PER_LEVEL
DEFAULT_MAX_LEVEL = 100
# Virtual shards of a namespace (hotstore.core.keys): users, sessions and documents are spread over this many hash
# tags, each with its own dirty sets and flush lease. Fixed for the life of a namespace: a key's shard is part of
# its name.
SHARDS = 64

# Fields of the user hash (short names: one hash per user, millions of users).
USER_ID = "id"  # users.id in SQL
USER_TELEGRAM_ID = "tg"
USER_USERNAME = "un"
USER_FIRST_NAME = "fn"
USER_LAST_NAME = "ln"
USER_XP = "xp"
USER_LEVEL = "lvl"
USER_TOTAL_TRAININGS = "tt"
USER_TOTAL_SCORE = "ts"
USER_REGISTERED_MS = "reg"
USER_LAST_ACTIVITY_MS = "la"
USER_WEEK = "wk"  # ISO week of USER_WEEK_XP, e.g. 2026-W48 (users.week)
USER_WEEK_XP = "wx"  # XP earned in USER_WEEK, all bots: the weekly board's absolute score (users.week_xp)
VERSION = "v"  # bumped by every write, on users and sessions

# Fields of the session hash: metadata fields, plus one field per top-level key of each document.
SESSION_USER_ID = "uid"
SESSION_CREATED_MS = "ca"
SESSION_UPDATED_MS = "ua"
SESSION_XP = "xp"  # XP earned in this bot (bot_sessions.xp; the bot board's score)
SESSION_FIELD_PREFIX = "s:"  # s:<key> holds session_data[key]
STATS_FIELD_PREFIX = "t:"  # t:<key> holds stats_data[key]
# A value longer than this is split over several fields (hotstore.core.codec.chunk_value): Redis's default
# hash-max-listpack-value is 64, and one longer value turns the whole hash from listpack into a hashtable.
CHUNK_BYTES = 64
CHUNK_SEPARATOR = "\x00"  # s:<key>\x00<i> is part i of a chunked value

# Documents (hotstore.core.documents): a per-bot hash keyed by a string, or a user's session in one bot. The data
# is one SESSION_FIELD_PREFIX field per top-level key (in a session: session_data itself); the state is one field.
DOCUMENT_STATE = "st"  # a label such as aiogram's FSM state (bot_documents.state, bot_sessions.fsm_state)
DOCUMENT_CREATED_MS = SESSION_CREATED_MS
DOCUMENT_UPDATED_MS = SESSION_UPDATED_MS
MAX_DOCUMENT_KEY_LENGTH = 512  # bot_documents.doc_key
MAX_STATE_LENGTH = 1024

# Worker metrics hash fields.
METRIC_ROWS_FLUSHED = "rows_flushed"
METRIC_FLUSHES = "flushes"
METRIC_FAILURES = "failures"
METRIC_LAST_ERROR = "last_error"
METRIC_LAST_ERROR_AT = "last_error_at"
METRIC_LAST_FLUSH_AT = "last_flush_at"
METRIC_REFUSED_ROWS = "refused_rows"  # rows SQL refused (each retry of a stuck row counts again)
METRIC_VERSION_CONFLICTS = "version_conflicts"  # SQL rows newer than Redis's (a Redis rollback), seen by the flush
METRIC_PRESSURE_EVICTIONS = "pressure_evictions"  # clean entities evicted early because Redis neared maxmemory

# Memory pressure (hotstore.writebehind.pressure): above HIGH the write-behind evicts clean idle entities,
# oldest-idle first, until used memory is below TARGET (fractions of maxmemory).
MEMORY_PRESSURE_HIGH = 0.90
MEMORY_PRESSURE_TARGET = 0.80
PRESSURE_EVICT_ROUND = 10_000  # candidates per round (the ones with the least idle TTL left)
PRESSURE_EVICT_CHUNK = 50  # entities per eviction script

# Worker monitoring endpoint (workers/monitoring.py).

# Write-behind workers (workers/).
ARQ_QUEUE_PREFIX = "arq:hotstore:"  # + namespace: one queue (and one set of cron job ids) per namespace
# Flush leases per shard (hotstore.writebehind.leases): a worker refreshes its leases at least every
# SHARD_LEASE_HEARTBEAT_MS; one that stopped refreshing is dead after SHARD_LEASE_MS, and the others take its
# shards. The lease only saves duplicate work: SQL's version guard keeps two workers on one shard safe.
SHARD_LEASE_MS = 3_000  # a killed worker's shards wait at most this long for a survivor
SHARD_LEASE_HEARTBEAT_MS = 500  # well below SHARD_LEASE_MS: a refresh that comes late loses nothing
MAX_WORKER_ID_LENGTH = 200  # a flush worker's id (a member of keys.workers, the value of its leases)
REFUSED_ROWS_MAX = 1000  # fields of keys.refused: a runaway of refused rows cannot grow Redis without bound
REFUSED_ROWS_SHOWN = 5  # refused rows listed by hotstore status
FLUSH_BACKOFF_MAX_S = 30.0  # cap of the exponential retry delay while SQL (or Redis) is unreachable
FLUSH_JOB_TIMEOUT_S = 60
SHUTDOWN_FLUSH_BUDGET_S = 30.0  # the final flush of a stopping worker (or close_db) gives up after this long
REBUILD_CHUNK = 10_000  # SQL rows per step of a leaderboard rebuild
REBUILD_CHECK_INTERVAL_S = 10
REBUILD_JOB_TIMEOUT_S = 1_800
REBUILD_LOCK_LEASE_MS = 60_000  # renewed after every chunk
TEMP_BOARD_TTL_MS = 600_000  # a crashed rebuild's half-built board disappears by itself
# a killed upgrader (migrate-layout in a worker) delays the next by at most this long; a longer run shares the
# work with the next one, which is safe (every step is idempotent)
UPGRADE_LOCK_LEASE_MS = 300_000
# Board recheck of take-backs (hotstore.writebehind.board_recheck): a take-back is rechecked once it is older than
# this grace (and than twice the Redis timeout), so the board writes of earlier awards have landed.
BOARD_RECHECK_GRACE_MS = 5_000
BOARD_RECHECK_BATCH = 500  # members per shard per recheck tick
BOARD_REPAIR_CHECK_INTERVAL_S = 60  # how often the repair cron looks whether HOTSTORE_BOARD_REPAIR_INTERVAL passed
BOARD_REPAIR_CHUNK = 1_000  # board members (ZSCAN) and SQL rows per step of a board repair
SWEEP_INTERVAL_S = 300
SWEEP_SCAN_COUNT = 1_000
SWEEP_JOB_TIMEOUT_S = 600
WORKER_HEALTH_CHECK_INTERVAL_S = 15
METRIC_LAST_FLUSH_ROWS = "last_flush_rows"
EVENT_LOCK_TIMEOUT_S = 60.0  # hotstore.integrations.aiogram: a lock held longer than this expires by itself
EVENT_LOCK_WAIT_S = 60.0  # … and a handler waits at most this long for it

# Training history applied to the hot counters (hotstore/scripts/record_training.lua); both marks are flushed to
# and loaded from users.training_marks with the counters (hotstore.core.codec.training_marks_from_hash/_to_hash).
USER_LAST_TRAINING = "lt"  # highest training_history.id applied to tt/ts
USER_RECENT_TRAININGS = "lr"  # the last RECENT_TRAININGS_KEPT applied ids, space-separated
RECENT_TRAININGS_KEPT = 32  # more concurrent trainings of one user than this cannot be in flight
