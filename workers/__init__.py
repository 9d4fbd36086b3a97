"""Write-behind workers: arq jobs that flush the hot store to SQL, rebuild lost boards and sweep idle keys.

Run them as a process with ``arq workers.WorkerSettings`` or ``hotstore worker`` (both read the
environment), or inside the bot's process with :class:`hotstore.writebehind.embedded.EmbeddedWorker`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["WorkerSettings"]


def __getattr__(name: str) -> Any:
    # Lazy: ``WorkerSettings`` reads the environment, which importing ``hotstore.writebehind.flush`` must not need.
    if name == "WorkerSettings":
        from workers.settings import worker_settings_from_env

        return worker_settings_from_env()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
