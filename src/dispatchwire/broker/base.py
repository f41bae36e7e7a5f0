"""The broker interface: carries stored events to every process that may hold a user's socket."""

from collections.abc import Callable
from typing import Protocol

from dispatchwire.db import StoredEvent

__all__ = ["Broker", "Listener"]

Listener = Callable[[StoredEvent], None]


class Broker(Protocol):
    async def connect(self) -> None:
        """Start carrying events."""

    async def disconnect(self) -> None:
        """Stop; pending work is dropped (events stay in the database)."""

    async def publish(self, events: list[StoredEvent]) -> None:
        """Hand committed events to every process's listeners."""

    def add_listener(self, listener: Listener) -> None:
        """Call `listener` with every event published by any process."""

    async def ping(self) -> None:
        """Raise if the broker cannot be reached."""
