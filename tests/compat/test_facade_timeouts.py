"""The v4 facade on a stalled Redis or SQL server: StoreUnavailable within the timeout, never a hang.

Each case is a v4 bot script in its own interpreter (the facade's store is process-wide), configured by the
environment alone, against a blackhole port served by this test (tests/support/faults.py).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.support.faults import blackhole

ROOT = Path(__file__).resolve().parents[2]
HANG_GUARD_S = 60.0  # only stops a script that would hang; the test then fails on its output

SCRIPT = """
import asyncio
from hotstore.compat import DatabaseService

async def main():
    try:
        await DatabaseService("spin_bot").get_user_session(7, "u", "U")
    except Exception as exc:
        print("raised", type(exc).__name__)
    else:
        print("returned")

asyncio.run(main())
"""


async def _run_bot(tmp_path: Path, **env: str) -> str:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HOTSTORE_", "REDIS_URL", "DATABASE_URL"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SCRIPT, cwd=tmp_path, env={**base, "PYTHONPATH": str(ROOT), **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), HANG_GUARD_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return "hung"
    return out.decode().strip().splitlines()[-1]


async def test_the_facade_on_a_stalled_sql_server_raises_store_unavailable(tmp_path: Path) -> None:
    async with blackhole() as port:
        result = await _run_bot(tmp_path, DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/none",
                                HOTSTORE_SQL_TIMEOUT="0.5")
    assert result == "raised StoreUnavailable"


async def test_the_facade_on_a_stalled_redis_raises_store_unavailable(tmp_path: Path) -> None:
    async with blackhole() as port:
        result = await _run_bot(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}",
                                REDIS_URL=f"redis://127.0.0.1:{port}/0", HOTSTORE_REDIS_TIMEOUT="0.5")
    assert result == "raised StoreUnavailable"
