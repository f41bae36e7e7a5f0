"""When each socket's token runs out, on one timer for all of them.

A timer per socket (uvloop's `TimerHandle`, its `UVTimer` and libuv's handle) cost ~0.4 KiB
and four objects for the collector to walk, on every socket, for a moment that is hours away.
Here a socket's expiry is an entry in a heap, (when, socket id), and the socket is found by its
id; one timer waits for the earliest. A socket that ends, or authenticates again with a fresh
token, leaves its entry behind, skipped when it comes due; once such entries outnumber the
live ones the heap is rebuilt, so that reconnects do not make it grow.
"""

import asyncio
import heapq
import time
from typing import Protocol

from dispatchwire.gateway.timers import later

__all__ = ["Expiries", "Expiring"]

_SLACK = 64  # entries left behind before any rebuild


class Expiring(Protocol):
    def expired(self) -> None:
        """The token this socket authenticated with has run out."""


class Expiries:
    """Token expiries (wall-clock seconds, as in a JWT's `exp`) of the open sockets."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int]] = []
        self._watched: dict[int, tuple[float, Expiring]] = {}  # socket id -> (when, socket)
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for = float("inf")

    def __len__(self) -> int:
        return len(self._watched)

    def watch(self, socket_id: int, expires_at: float, socket: Expiring) -> None:
        """Tell `socket` when its token runs out (in place of any earlier expiry of it)."""
        self._watched[socket_id] = (expires_at, socket)
        heapq.heappush(self._heap, (expires_at, socket_id))
        if len(self._heap) > 2 * len(self._watched) + _SLACK:
            self._heap = [(at, sid) for sid, (at, _) in self._watched.items()]
            heapq.heapify(self._heap)
        if expires_at < self._armed_for:
            self._arm()

    def forget(self, socket_id: int) -> None:
        """The socket ended: its expiry no longer matters."""
        self._watched.pop(socket_id, None)
        if not self._watched and self._heap:  # the last one: nothing left to wait for
            self._heap.clear()
            self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._armed_for = self._heap[0][0] if self._heap else float("inf")
        if self._heap:
            self._timer = later(max(0.0, self._armed_for - time.time()), self._due)

    def _due(self) -> None:
        self._timer = None
        now = time.time()
        expired: list[Expiring] = []
        while self._heap and self._heap[0][0] <= now:
            at, socket_id = heapq.heappop(self._heap)
            watched = self._watched.get(socket_id)
            if watched is not None and watched[0] == at:  # not a stale entry
                del self._watched[socket_id]
                expired.append(watched[1])
        self._arm()
        for socket in expired:
            socket.expired()
