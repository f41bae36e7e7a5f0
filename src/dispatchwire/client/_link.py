"""Keeps the socket up: reconnects with backoff, and polls the REST API while it is down.

Modelled on python-websockets' `async for connection in connect(...)`: each turn of the loop
is one connection attempt; the backoff grows with each failure (full jitter, capped) and
starts over once a connection has gone live.
"""

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from dispatchwire.client._backoff import Backoff
from dispatchwire.client._errors import Replaced, Unreachable
from dispatchwire.client._socket import SessionEnd
from dispatchwire.client._state import Observable, State

__all__ = ["Attempt", "Link"]

log = logging.getLogger("dispatchwire.client")

REPLACED, AUTH_FAILED = 4409, 4401


@dataclass(frozen=True)
class Attempt:
    """One connection attempt: 0 for the first connection, then retry 1, 2, ... since the
    socket was last live; the wait before it; when it started (`time.time()`)."""

    number: int
    delay: float
    at: float


@dataclass(frozen=True)
class LinkConfig:
    backoff: Backoff
    max_attempts: int | None
    poll: bool
    poll_interval: float
    poll_after_attempts: int


class Link:
    """The reconnect loop, the state it shows, and the fallback poller."""

    def __init__(self, config: LinkConfig, state: Observable[State], *,
                 open_session: Callable[[], Awaitable[SessionEnd]],
                 renew_token: Callable[[str | None], Awaitable[object]],
                 poll: Callable[[], Coroutine[Any, Any, None]],
                 reload: Callable[[], Coroutine[Any, Any, None]],
                 on_attempt: Callable[[Attempt], None] | None = None,
                 rng: random.Random | None = None) -> None:
        self._config, self.state = config, state
        self._open_session, self._renew_token, self._poll = open_session, renew_token, poll
        self._reload = reload
        self._on_attempt = on_attempt
        self._rng = rng or random.Random()
        self._poller: asyncio.Task[None] | None = None
        self._catch_up: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """Connect and reconnect until cancelled; raises Replaced, AuthError or Unreachable
        (after `max_attempts`) for what is not to be retried."""
        try:
            await self._loop()
        finally:
            self._stop_polling()
            if self._catch_up is not None:
                self._catch_up.cancel()

    async def _loop(self) -> None:
        failures, number, delay = 0, 0, 0.0
        while True:
            self._report(Attempt(number, delay, time.time()))
            end = await self._open_session()
            if end.code == REPLACED:
                raise Replaced("the server replaced this socket with a newer one of the same "
                               "user (close 4409); not reconnecting")
            if end.code == AUTH_FAILED or end.auth_error:
                await self._renew_token(end.token)  # never retry a refused token
            failures = 0 if end.live else failures + 1
            if self._config.max_attempts is not None and failures >= self._config.max_attempts:
                raise Unreachable(f"the socket failed {failures} times in a row; giving up")
            self._show_down(failures)
            number = failures + 1  # retry n waits up to base * 2**n
            delay = self._config.backoff.delay(number, self._rng)
            await asyncio.sleep(delay)

    def _report(self, attempt: Attempt) -> None:
        if attempt.number:
            log.info("reconnecting (attempt %d, after %.2f s)", attempt.number, attempt.delay)
        if self._on_attempt is not None:
            self._on_attempt(attempt)

    def _show_down(self, failures: int) -> None:
        if self._config.poll and failures >= self._config.poll_after_attempts:
            self.state.set(State.POLLING)
            self._start_polling()
        elif self.state.value is not State.POLLING:
            self.state.set(State.RECONNECTING)

    def went_live(self, resumed: bool, recovered: bool = True) -> None:
        """The socket is authenticated (and subscribed): polling stops; a socket that did not
        resume (no `lastEventId`) gets one poll for what it may have missed, and one whose
        missed events were deleted on the server (`recovered: false`) a reload by REST."""
        self._stop_polling()
        self.state.set(State.CONNECTED)
        if not recovered:
            self._catch_up = asyncio.get_running_loop().create_task(self._reload())
        elif not resumed and self._config.poll:
            self._catch_up = asyncio.get_running_loop().create_task(self._poll())

    def _start_polling(self) -> None:
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll_loop())

    def _stop_polling(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None

    async def _poll_loop(self) -> None:
        while True:
            with contextlib.suppress(Exception):  # the poll logs its own failures
                await self._poll()
            await asyncio.sleep(self._config.poll_interval)
