"""The in-process broker of the embedded default: events never leave this process."""

import logging
import uuid
from collections.abc import Callable

from dispatchwire.broker.base import GapListener, Listener
from dispatchwire.broker.metrics import BROKER_CONNECTED
from dispatchwire.events.types import StoredEvent

__all__ = ["MemoryBroker", "deliver_locally"]

log = logging.getLogger(__name__)


class MemoryBroker:
    def __init__(self) -> None:
        self.node_id = uuid.uuid4().hex[:12]
        self._listeners: list[Listener] = []

    async def connect(self) -> None:
        BROKER_CONNECTED.set(1)  # always: there is nothing to be cut off from

    async def disconnect(self) -> None:
        BROKER_CONNECTED.set(0)

    async def publish(self, events: list[StoredEvent]) -> None:
        deliver_locally(self._listeners, events)

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def add_gap_listener(self, listener: GapListener) -> None:
        return None  # nothing is ever lost in one process

    async def share_presence(self, snapshot: Callable[[], bytes], *, ttl_s: float) -> None:
        return None  # there is no other process to tell

    async def cluster_presence(self) -> list[bytes]:
        return []

    async def ping(self) -> None:
        return None


def deliver_locally(listeners: list[Listener], events: list[StoredEvent]) -> None:
    for stored in events:
        for listener in listeners:
            try:
                listener(stored)
            except Exception:  # one faulty listener must not starve the others
                log.exception("event listener failed on event %s of user %s",
                              stored.event_id, stored.user_id)
