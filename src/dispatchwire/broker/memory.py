"""The in-process broker of the embedded default: events never leave this process."""

import logging

from dispatchwire.broker.base import Listener
from dispatchwire.db import StoredEvent

__all__ = ["MemoryBroker"]

log = logging.getLogger(__name__)


class MemoryBroker:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    async def connect(self) -> None:
        return None

    async def disconnect(self) -> None:
        return None

    async def publish(self, events: list[StoredEvent]) -> None:
        for stored in events:
            for listener in self._listeners:
                try:
                    listener(stored)
                except Exception:  # one faulty listener must not starve the others
                    log.exception("event listener failed on event %s of user %s",
                                  stored.event_id, stored.user_id)

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def ping(self) -> None:
        return None
