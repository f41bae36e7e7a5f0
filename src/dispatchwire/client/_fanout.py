"""Hands each event to the application: to every iterator and every callback, in order.

Nothing here ever blocks the socket's read loop (a reader that stalls is cut off by the
server with 1013): iterators read from bounded queues of their own, and callbacks run one
after the other in a task of their own. Events that arrive before the application listens
at all are kept (up to `backlog`) for the first listener. Each listener holds the event in
`Receipts` until it has handled it (`_receipts.py` says when that is), so that the client
never acks an event the application has not had.
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
from dispatchwire.client._receipts import Receipts

__all__ = ["Callback", "Listeners"]

log = logging.getLogger("dispatchwire.client")

Callback = Callable[[Any], Awaitable[None] | None]
_Kinds = tuple[type, ...]


class _Queue:
    """One iterator's events, at most `size` of them waiting, each held until handed out."""

    def __init__(self, kinds: _Kinds, size: int, receipts: Receipts) -> None:
        self.kinds, self.size, self.receipts = kinds, size, receipts
        self.items: deque[Event] = deque()
        self.ready = asyncio.Event()
        self.overflowed = False

    def offer(self, item: Event) -> None:
        if len(self.items) >= self.size:
            self.overflowed = True
            return
        self.items.append(item)
        self.receipts.hold(item.event_id)
        self.ready.set()

    def take(self) -> Event:
        item = self.items.popleft()
        self.receipts.release(item.event_id)  # handed to the `async for`: the app has it
        return item

    def drop(self) -> None:
        """The iterator is gone: what it never handed out is no one's to wait for."""
        while self.items:
            self.take()


class Listeners:
    """The application's iterators and callbacks, and the task that runs the callbacks."""

    def __init__(self, on_overflow: Callable[[ListenerOverflow], None], *,
                 receipts: Receipts | None = None, hold_backlog: bool = True,
                 queue_size: int = 10_000, backlog: int = 1000) -> None:
        self._on_overflow = on_overflow
        self._receipts = receipts or Receipts()
        self._hold_backlog = hold_backlog  # False: another hook (on_frame) handled the events
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
            self._keep(event)
            return
        for queue in list(self._iterators):
            if isinstance(event, queue.kinds):
                queue.offer(event)
        for kinds, callback in self._callbacks:
            if isinstance(event, kinds):
                self._call(callback, event)

    def _keep(self, event: Event) -> None:
        """Keep an event for the first listener (the oldest goes when the backlog is full)."""
        if len(self._backlog) == self._backlog.maxlen:
            self._let_go(self._backlog[0])
        self._backlog.append(event)
        if self._hold_backlog:
            self._receipts.hold(event.event_id)

    def _let_go(self, kept: Event) -> None:
        if self._hold_backlog:
            self._receipts.release(kept.event_id)

    def _call(self, callback: Callback, event: Event) -> None:
        try:
            self._calls.put_nowait((callback, event))
        except asyncio.QueueFull:
            self._on_overflow(ListenerOverflow(f"{self._queue_size} events were waiting for "
                                               "the callbacks"))
            return
        self._receipts.hold(event.event_id)
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(self._run_callbacks())

    def _drain_backlog(self, kinds: _Kinds, take: Callable[[Event], None]) -> None:
        """Hand the kept events of `kinds` to `take`; the others are no one's now."""
        kept = list(self._backlog)
        self._backlog.clear()
        for event in kept:
            if isinstance(event, kinds):
                take(event)
            self._let_go(event)

    def add_callback(self, callback: Callback, kinds: _Kinds) -> Callable[[], None]:
        """Call `callback(event)` for each event of `kinds`; returns the unsubscriber."""
        entry = (kinds, callback)
        self._callbacks.append(entry)
        self._drain_backlog(kinds, lambda event: self._call(callback, event))
        return lambda: self._callbacks.remove(entry) if entry in self._callbacks else None

    def iterate(self, kinds: _Kinds) -> AsyncIterator[Any]:
        """An iterator over the events of `kinds`, listening from this call on."""
        queue = _Queue(kinds, self._queue_size, self._receipts)
        self._drain_backlog(kinds, queue.offer)
        self._iterators.add(queue)
        iterator = self._read(queue)
        # An iterator left by `break` is collected: stop filling its queue then.
        weakref.finalize(iterator, self._forget, queue)
        return iterator

    def _forget(self, queue: _Queue) -> None:
        self._iterators.discard(queue)
        queue.drop()

    async def _read(self, queue: _Queue) -> AsyncIterator[Any]:
        try:
            while True:
                if queue.items:
                    yield queue.take()
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
            self._forget(queue)

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
                self._calls.task_done()
                raise  # a cancelled callback did not handle its event: it stays held
            except Exception:
                log.exception("an event callback failed on %r", event)
            self._calls.task_done()
            self._receipts.release(event.event_id)
