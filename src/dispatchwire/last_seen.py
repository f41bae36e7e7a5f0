"""When each master was last seen (a socket authenticated, a poll, any call), written cheaply.

Every request of a master notes him here; a master is taken for writing at most once a
`write_every_s` by this process, and the writer (`masters.service.record_last_seen_forever`)
writes what was taken in one statement a second. `lastSeenAt` is thus at most a minute and a
second behind, and a fleet of masters calling costs one small write a second, not one a call.
"""

import math
import time
from datetime import datetime

from dispatchwire.clock import utcnow

__all__ = ["LastSeen"]


class LastSeen:
    CACHED = 100_000  # masters remembered as written; the oldest are forgotten beyond this

    def __init__(self, *, write_every_s: float = 60.0) -> None:
        self.write_every_s = write_every_s
        self._written: dict[int, float] = {}  # master id -> when last taken (monotonic)
        self._due: dict[int, datetime] = {}  # master id -> when seen, not yet written

    def note(self, master_id: int) -> None:
        """The master was seen now."""
        now = time.monotonic()
        if now - self._written.get(master_id, -math.inf) < self.write_every_s:
            return
        self._written.pop(master_id, None)  # re-inserted last: eviction drops the oldest
        if len(self._written) >= self.CACHED:
            del self._written[next(iter(self._written))]
        self._written[master_id] = now
        self._due[master_id] = utcnow()

    @property
    def due(self) -> bool:
        """Whether some master's time waits to be taken for writing."""
        return bool(self._due)

    def take(self) -> dict[int, datetime]:
        """What is to be written: each master noted, with when."""
        due, self._due = self._due, {}
        return due

    def give_back(self, due: dict[int, datetime]) -> None:
        """A write failed: keep these for the next one (newer notes win)."""
        self._due = {**due, **self._due}
