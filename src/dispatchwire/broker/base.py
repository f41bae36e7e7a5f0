"""The broker interface: carries stored events to every process that may hold a user's socket.

A broker is best effort by design. Events are stored before they are published, so a broker
that loses some (an outage, a full queue) only has to say so: it calls its gap listeners, and
each process then reads what its sockets missed from the database. The same interface shares
each process's presence (who holds a subscribed socket) with the others, as snapshots that
vanish when their process stops refreshing them.

Transient messages (a master's position for his client) are the exception to "stored first":
they are never stored, carry no `eventId` and are never replayed. A broker hands them on once,
best effort: one lost while the backend is away is simply gone (the next one replaces it), and
its loss is no gap.
"""

from collections.abc import Callable
from typing import Any, Protocol

from dispatchwire.events.types import StoredEvent

__all__ = ["Broker", "GapListener", "Listener", "TransientListener"]

Listener = Callable[[StoredEvent], None]
GapListener = Callable[[], None]
TransientListener = Callable[[int, dict[str, Any]], None]  # (user id, the frame)


class Broker(Protocol):
    node_id: str  # this process, unique in the cluster

    async def connect(self) -> None:
        """Start carrying events; an unreachable backend is retried in the background."""

    async def disconnect(self) -> None:
        """Stop; pending work is dropped (events stay in the database)."""

    async def publish(self, events: list[StoredEvent]) -> None:
        """Hand committed events to every process's listeners, this one's at once."""

    def add_listener(self, listener: Listener) -> None:
        """Call `listener` with every event published by any process."""

    def add_gap_listener(self, listener: GapListener) -> None:
        """Call `listener` whenever events of other processes may have been lost."""

    async def send_transient(self, user_id: int, message: dict[str, Any]) -> None:
        """Hand a frame that is not stored to every process's transient listeners, this one's
        at once; once, best effort, never a gap when lost."""

    def add_transient_listener(self, listener: TransientListener) -> None:
        """Call `listener` with every transient message sent by any process."""

    async def share_presence(self, snapshot: Callable[[], bytes], *, ttl_s: float) -> None:
        """Publish `snapshot()`, this process's presence (taken only when there is someone to
        tell); it vanishes after `ttl_s` unless shared again."""

    async def cluster_presence(self) -> list[bytes]:
        """The latest presence snapshot of every other live process."""

    async def ping(self) -> None:
        """Raise if the broker cannot be reached."""
