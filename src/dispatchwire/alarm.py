"""The expiry loop's alarm clock: when it plans to wake, and a way to wake it sooner.

Every offer made (here, or heard from another process) is noted; the loop is woken only when
the new deadline comes before its planned wake-up. With one timeout for all offers that is
almost never, so placing an order costs the loop nothing.
"""

import asyncio
import contextlib
from datetime import datetime, timedelta

from dispatchwire.clock import utcnow

__all__ = ["Alarm"]


class Alarm:
    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._wake_at: datetime | None = None  # None while the loop is awake
        self._noted: datetime | None = None  # the earliest deadline noted while it was awake

    def note(self, deadline: datetime) -> None:
        """A deadline was set: wake the loop if it would sleep past it."""
        if self._wake_at is None:
            # Awake: the loop may already have read the deadlines, so weigh this one when it
            # goes to sleep. (Waking it outright would make it read them again after every
            # offer made while it works: its own transactions wait for their commit.)
            if self._noted is None or deadline < self._noted:
                self._noted = deadline
        elif deadline < self._wake_at:
            self._event.set()

    def awake(self) -> None:
        """The loop is reading deadlines: any deadline noted from now on is weighed again."""
        self._wake_at = self._noted = None
        self._event.clear()

    async def sleep(self, seconds: float) -> None:
        """Sleep `seconds`, or until a nearer deadline is noted (at once if one was, awake)."""
        wake_at = utcnow() + timedelta(seconds=seconds)
        if self._noted is not None and self._noted < wake_at:
            return
        self._wake_at = wake_at
        with contextlib.suppress(TimeoutError):  # asyncio.timeout: see cluster.py
            async with asyncio.timeout(seconds):
                await self._event.wait()
        self._wake_at = None
