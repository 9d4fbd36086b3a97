"""The arq deployment shell of the write-behind: WorkerSettings, cron schedule, job functions, signals.

Run them as a process with ``arq workers.WorkerSettings`` or ``hotstore worker`` (both read the
environment). Inside a bot's process the same write-behind cycle runs as
:class:`hotstore.writebehind.flusher.InProcessFlusher`, without arq.
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
