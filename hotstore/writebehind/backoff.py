"""Exponential, capped back-off for the flush while SQL (or Redis) is unreachable, logged once per outage.

The first failure of an outage is logged as a warning with its error, later failures only at debug level,
and the first success after an outage is logged once with its length. The hot path never waits on this:
writes keep landing in Redis and stay dirty until the flush gets through.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("hotstore.writebehind.flush")


class Backoff:
    """When the next attempt may run. ``Backoff(base_s=1, cap_s=30)`` waits 1, 2, 4, … 30, 30 s."""

    def __init__(self, *, base_s: float, cap_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self._clock = clock
        self.failures = 0  # consecutive failures in the current outage
        self._outage_started: float | None = None
        self._retry_at = 0.0

    @property
    def in_outage(self) -> bool:
        return self.failures > 0

    def ready(self) -> bool:
        """True when an attempt may run now (always true outside an outage)."""
        return self._clock() >= self._retry_at

    def delay(self) -> float:
        """The wait after the current number of consecutive failures."""
        if self.failures == 0:
            return 0.0
        return float(min(self.cap_s, self.base_s * 2 ** (self.failures - 1)))

    def failed(self, error: BaseException, what: str = "flush") -> float:
        """Record a failed attempt; return the delay before the next one."""
        now = self._clock()
        self.failures += 1
        if self._outage_started is None:
            self._outage_started = now
            log.warning(
                "%s failing, retrying with back-off (up to %.0f s): %s: %s",
                what,
                self.cap_s,
                type(error).__name__,
                error,
            )
        else:
            log.debug("%s still failing (attempt %d): %s", what, self.failures, error)
        wait = self.delay()
        self._retry_at = now + wait
        return wait

    def succeeded(self, what: str = "flush") -> None:
        """Record a successful attempt, ending any outage."""
        if self._outage_started is not None:
            log.warning(
                "%s recovered after %d failed attempts over %.1f s",
                what,
                self.failures,
                self._clock() - self._outage_started,
            )
        self.failures = 0
        self._outage_started = None
        self._retry_at = 0.0
