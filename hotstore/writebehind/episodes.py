"""Log a condition once when it starts and once when it ends, however many ticks see it (an *episode*).

A Redis rollback shows up as conflicts in many flushes in a row, memory pressure as many ticks above the high
mark; the operator needs one line for each, not one per tick::

    pressure = Episode("Redis memory pressure")
    pressure.observe(True, "used 95% of maxmemory")    # logged (warning)
    pressure.observe(True, "used 93% of maxmemory")    # not logged
    pressure.observe(False)                              # logged (info): the episode is over
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

log = logging.getLogger("hotstore.writebehind")


@dataclass
class Episode:
    """One condition's start/end, logged once each."""

    what: str
    active: bool = False
    count: int = field(default=0)  # what the episode counted so far (evictions, conflicts)

    def observe(self, happening: bool, detail: str = "", *, counted: int = 0) -> None:
        if happening:
            if not self.active:
                self.active = True
                self.count = 0
                log.warning("%s: %s", self.what, detail)
            self.count += counted
        elif self.active:
            self.active = False
            log.info("%s: over (%d counted during the episode)", self.what, self.count)
