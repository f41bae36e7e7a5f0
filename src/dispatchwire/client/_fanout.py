"""Hands each event to the application: to every iterator and every callback, in order.

Nothing here ever blocks the socket's read loop (a reader that stalls is cut off by the
server with 1013): iterators read from bounded queues of their own, and callbacks run one
after the other in a task of their own. Events that arrive before the application listens
at all are kept (up to `backlog`) for the first listener.
"""

import asyncio
import inspect
import logging
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from dispatchwire.client._errors import ListenerOverflow
from dispatchwire.client._models import Event

__all__ = ["Callback", "Listeners"]

log = logging.getLogger("dispatchwire.client")

Callback = Callable[[Any], Awaitable[None] | None]
_Kinds = tuple[type, ...]


class _Queue:
    """One iterator's events, at most `size` of them waiting."""

    def __init__(self, kinds: _Kinds, size: int) -> None:
        self.kinds, self.size = kinds, size
        self.items: deque[Event] = deque()
        self.ready = asyncio.Event()
        self.overflowed = False

    def offer(self, item: Event) -> None:
        if len(self.items) >= self.size:
            self.overflowed = True
            return
        self.items.append(item)
        self.ready.set()


class Listeners:
    """The application's iterators and callbacks, and the task that runs the callbacks."""

    def __init__(self, on_overflow: Callable[[ListenerOverflow], None], *,
                 queue_size: int = 10_000, backlog: int = 1000) -> None:
        self._on_overflow = on_overflow
        self._queue_size = queue_size
        self._iterators: set[_Queue] = set()
        self._callbacks: list[tuple[_Kinds, Callback]] = []
        self._backlog: deque[Event] = deque(maxlen=backlog)
        self._calls: asyncio.Queue[tuple[Callback, Event]] = asyncio.Queue(queue_size)
        self._runner: asyncio.Task[None] | None = None
        self._end: BaseException | None = None
        self._ended = False

    def emit(self, event: Event) -> None:
        """Hand `event` to every listener of its kind, or keep it while there is none."""
        if not self._iterators and not self._callbacks:
            self._backlog.append(event)
            return
        for queue in list(self._iterators):
            if isinstance(event, queue.kinds):
                queue.offer(event)
        for kinds, callback in self._callbacks:
            if isinstance(event, kinds):
                self._call(callback, event)

    def _call(self, callback: Callback, event: Event) -> None:
        try:
            self._calls.put_nowait((callback, event))
        except asyncio.QueueFull:
            self._on_overflow(ListenerOverflow(f"{self._queue_size} events were waiting for "
                                               "the callbacks"))
            return
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(self._run_callbacks())

    def _drain_backlog(self, kinds: _Kinds) -> list[Event]:
        events = [event for event in self._backlog if isinstance(event, kinds)]
        self._backlog.clear()
        return events

    def add_callback(self, callback: Callback, kinds: _Kinds) -> Callable[[], None]:
        """Call `callback(event)` for each event of `kinds`; returns the unsubscriber."""
        entry = (kinds, callback)
        self._callbacks.append(entry)
        for event in self._drain_backlog(kinds):
            self._call(callback, event)
        return lambda: self._callbacks.remove(entry) if entry in self._callbacks else None

    def iterate(self, kinds: _Kinds) -> AsyncIterator[Any]:
        """An iterator over the events of `kinds`, listening from this call on."""
        queue = _Queue(kinds, self._queue_size)
        for event in self._drain_backlog(kinds):
            queue.offer(event)
        self._iterators.add(queue)
        iterator = self._read(queue)
        # An iterator left by `break` is collected: stop filling its queue then.
        weakref.finalize(iterator, self._iterators.discard, queue)
        return iterator

    async def _read(self, queue: _Queue) -> AsyncIterator[Any]:
        try:
            while True:
                if queue.items:
                    yield queue.items.popleft()
                elif queue.overflowed:
                    raise ListenerOverflow(f"more than {queue.size} events were waiting for "
                                           "this iterator")
                elif self._ended:
                    if self._end is not None:
                        raise self._end
                    return
                else:
                    queue.ready.clear()
                    await queue.ready.wait()
        finally:
            self._iterators.discard(queue)

    def end(self, error: BaseException | None) -> None:
        """End every iterator once it has read what it holds: normally, or raising `error`."""
        self._ended, self._end = True, error
        for queue in self._iterators:
            queue.ready.set()

    async def stop(self, *, within: float) -> None:
        """Run the callbacks still queued (for up to `within` seconds), then stop their task."""
        if self._runner is None:
            return
        try:
            async with asyncio.timeout(within):
                await self._calls.join()
        except TimeoutError:
            log.warning("event callbacks still busy after %g s: cancelled", within)
        finally:
            self._runner.cancel()

    async def _run_callbacks(self) -> None:
        while True:
            callback, event = await self._calls.get()
            try:
                result = callback(event)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("an event callback failed on %r", event)
            finally:
                self._calls.task_done()
