"""The connection state, as a value the application can read, watch and wait for."""

import asyncio
import enum
import logging
from collections.abc import AsyncIterator, Callable
from typing import Generic, TypeVar

__all__ = ["Observable", "State"]

T = TypeVar("T")
log = logging.getLogger("dispatchwire.client")


class State(enum.StrEnum):
    """Where the client's socket stands.

    `CONNECTING`: the first connection is being made. `CONNECTED`: authenticated (and, for
    masters, subscribed); events come live. `RECONNECTING`: the socket dropped, retrying with
    backoff. `POLLING`: still retrying, and polling the REST API meanwhile so that nothing is
    missed. `CLOSED`: stopped, by `close()` or by an error that is not retried.
    """

    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    POLLING = "polling"
    CLOSED = "closed"


class Observable(Generic[T]):
    """A value that tells when it changes: read `.value`, `subscribe()` a callback, `await
    wait_for(...)` a value, or iterate over `changes()`."""

    def __init__(self, value: T) -> None:
        self._value = value
        self._callbacks: list[Callable[[T], None]] = []
        self._changed = asyncio.Event()

    @property
    def value(self) -> T:
        return self._value

    def set(self, value: T) -> None:
        """Change the value, telling every subscriber (only when it really changes)."""
        if value == self._value:
            return
        self._value = value
        for callback in list(self._callbacks):
            try:
                callback(value)
            except Exception:  # the application's bug must not stop the reconnect loop
                log.exception("a state callback failed on %s", value)
        self._changed.set()
        self._changed = asyncio.Event()  # waiters hold the old one, which is now set

    def subscribe(self, callback: Callable[[T], None]) -> Callable[[], None]:
        """Call `callback(value)` on every change, until the returned function is called."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None

    async def wait_for(self, *values: T) -> T:
        """Wait until the value is one of `values` (wrap it in `asyncio.timeout` to bound it)."""
        while self._value not in values:
            await self._changed.wait()
        return self._value

    async def changes(self) -> AsyncIterator[T]:
        """Every value from now on (the current one first). Values that change faster than the
        iterator is read are skipped: it always catches up with the latest one."""
        last = object()
        while True:
            if self._value != last:
                last = self._value
                yield self._value
                continue  # the value may have moved on while the reader was away
            await self._changed.wait()
