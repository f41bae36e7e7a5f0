"""SQLite's write-ahead log copied back into the database file in a thread, off the loop.

SQLite's default has the commit that takes the WAL past 1,000 pages copy it back (a
checkpoint) and fsync the file, inside that commit, on the event loop: at 750 orders a second
that was nearly half of COMMIT's time on the loop (109 -> 61 µs per order and its cancel in
`make bench`'s profile, docs/performance.md). Here the writer's connection leaves that to a
thread, which checkpoints at most every EVERY_S while commits come, with a connection of its
own: SQLite releases the GIL while it copies and syncs, so the loop goes on meanwhile.
PASSIVE: it waits for no one, and commits meanwhile append to the WAL past what it copies.
Should the thread fall behind, the writer's own checkpoint comes back at SAFETY_NET_PAGES.
"""

import asyncio
import contextlib
import logging
import sqlite3

__all__ = ["Checkpoints"]

log = logging.getLogger(__name__)

EVERY_S = 0.5  # at most this often while writes come
SAFETY_NET_PAGES = 20_000  # the writer's connection checkpoints itself past this (~80 MB)


class Checkpoints:
    """The checkpoints of one SQLite database file; `committed` after each commit."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._connection: sqlite3.Connection | None = None
        self._running: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last = float("-inf")  # when the last one started (the loop's clock)
        self._due = False  # commits came since the last one started
        self._closed = False

    @staticmethod
    def take_over_from(writer: sqlite3.Connection) -> None:
        """Let `writer`'s commits leave checkpoints to this class (but past the safety net)."""
        writer.execute(f"PRAGMA wal_autocheckpoint={SAFETY_NET_PAGES}")

    def committed(self) -> None:
        """A commit added to the WAL: copy it back soon, in the background."""
        self._due = True
        self._schedule()

    async def now(self) -> None:
        """Checkpoint now (after a bulk delete), after the one under way if any: that one may
        have begun before the latest commits."""
        if self._running is not None:
            await asyncio.shield(self._running)
        if self._running is None and not self._closed:
            self._start()
        if self._running is not None:
            await asyncio.shield(self._running)

    async def aclose(self) -> None:
        self._closed = True  # none is started from now on
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._running is not None:
            with contextlib.suppress(Exception):
                await self._running
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _schedule(self) -> None:
        if self._running is not None or self._timer is not None or not self._due \
                or self._closed:
            return
        loop = asyncio.get_running_loop()
        wait = self._last + EVERY_S - loop.time()
        if wait <= 0:
            self._start()
        else:
            self._timer = loop.call_later(wait, self._start)

    def _start(self) -> None:
        if self._timer is not None:
            self._timer.cancel()  # (a no-op when it is the timer that calls)
            self._timer = None
        self._due = False
        self._last = asyncio.get_running_loop().time()
        self._running = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            await asyncio.to_thread(self._checkpoint)
        except Exception as exc:  # the writer's safety net still bounds the WAL
            log.warning("WAL checkpoint of %s failed: %s: %s", self._path, type(exc).__name__,
                        exc)
        finally:
            self._running = None
        self._schedule()  # commits came meanwhile: the next one when it is due

    def _checkpoint(self) -> None:
        if self._connection is None:
            self._connection = sqlite3.connect(self._path, isolation_level=None,
                                               check_same_thread=False, timeout=30)
        self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
