"""The in-process broker of the embedded default: events never leave this process."""

import logging
import uuid
from collections.abc import Callable
from typing import Any

from dispatchwire.broker.base import GapListener, Listener, TransientListener
from dispatchwire.broker.metrics import BROKER_CONNECTED
from dispatchwire.events.types import StoredEvent

__all__ = ["MemoryBroker", "deliver_locally", "deliver_transient_locally"]

log = logging.getLogger(__name__)


class MemoryBroker:
    def __init__(self) -> None:
        self.node_id = uuid.uuid4().hex[:12]
        self._listeners: list[Listener] = []
        self._transient_listeners: list[TransientListener] = []

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

    async def send_transient(self, user_id: int, message: dict[str, Any]) -> None:
        deliver_transient_locally(self._transient_listeners, user_id, message)

    def add_transient_listener(self, listener: TransientListener) -> None:
        self._transient_listeners.append(listener)

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


def deliver_transient_locally(listeners: list[TransientListener], user_id: int,
                              message: dict[str, Any]) -> None:
    for listener in listeners:
        try:
            listener(user_id, message)
        except Exception:
            log.exception("transient listener failed on a %s for user %s", message.get("type"),
                          user_id)
