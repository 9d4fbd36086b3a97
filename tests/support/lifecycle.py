"""The v4 lifecycle patterns as real scripts: each runs in its own interpreter on the embedded default.

Each script writes :data:`XP_TOTAL` XP through the v4 facade (``DatabaseService``) for :data:`USERS` users, in the
event-loop pattern it is named after, and exits; the test then reads what reached SQL. Run one with
:func:`run_pattern`.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
USERS = 20
XP_EACH = 10
XP_TOTAL = USERS * XP_EACH
FIRST_TG = 8_000_000_000

_PRELUDE = f"""
import asyncio
from hotstore.compat import DatabaseService, close_db, init_db

USERS = [{FIRST_TG} + i for i in range({USERS})]


async def write(users=USERS):
    db = DatabaseService("spin_bot")
    for tg in users:
        await db.get_user_session(tg, "u", "U")
        await db.add_xp_and_check_level_up(tg, {XP_EACH})
"""

PATTERNS: dict[str, str] = {
    # init_db, the writes and close_db each in their own asyncio.run
    "init_write_close_in_three_loops": """
asyncio.run(init_db())
asyncio.run(write())
asyncio.run(close_db())
""",
    # init_db in one loop, then a main() that writes and closes in another
    "init_then_main_writes_and_closes": """
async def main():
    await write()
    await close_db()

asyncio.run(init_db())
asyncio.run(main())
""",
    # init_db in two successive loops, writing in both, close_db in the second
    "init_db_in_two_successive_loops": """
async def first():
    await init_db()
    await write(USERS[:10])

async def second():
    await init_db()
    await write(USERS[10:])
    await close_db()

asyncio.run(first())
asyncio.run(second())
""",
    # a bot that exits without close_db(): the at-exit drain flushes, with a warning
    "exit_without_close_db": """
async def main():
    await init_db()
    await write()

asyncio.run(main())
""",
}


@dataclass(frozen=True)
class PatternRun:
    """What one pattern's script left: exit code, stderr, and the XP SQL holds."""

    returncode: int
    stderr: str
    sql_xp: int


def run_pattern(name: str, workdir: Path, env: dict[str, str], *, timeout_s: float = 60.0) -> PatternRun:
    """Run pattern ``name`` as a script in ``workdir`` on a fresh SQLite file there; what it left."""
    script = workdir / f"{name}.py"
    script.write_text(_PRELUDE + textwrap.dedent(PATTERNS[name]))
    database = workdir / "bot.db"
    env = {**env, "DATABASE_URL": f"sqlite:///{database}", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(script)], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=timeout_s)
    return PatternRun(done.returncode, done.stderr, sql_xp(database))


def sql_xp(database: Path) -> int:
    """The sum of ``users.total_xp`` in the SQLite file (0 when it has no users table)."""
    if not database.exists():
        return 0
    with sqlite3.connect(database) as conn:
        try:
            return int(conn.execute("SELECT COALESCE(SUM(total_xp), 0) FROM users").fetchone()[0])
        except sqlite3.OperationalError:
            return 0
