"""One socket, from connecting to its close: auth, subscribe, ping, token renewal, frames.

The reconnect loop around it is in `_link.py`; what the frames mean to the application is
the client's business (`on_frame`). A session ends by returning how the socket closed.
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidURI, WebSocketException

from dispatchwire.client._errors import AuthError, ClientError
from dispatchwire.client._receipts import Receipts
from dispatchwire.client._tokens import Tokens

__all__ = ["SessionEnd", "SocketSession"]

log = logging.getLogger("dispatchwire.client")

NO_CLOSE_FRAME = 1006


@dataclass(frozen=True)
class SessionEnd:
    """How a socket ended: whether it was ever live, its close code, the token it used."""

    live: bool
    code: int
    token: str | None
    auth_error: str | None = None


@dataclass(frozen=True)
class SocketConfig:
    url: str
    ping_interval: float
    keepalive: float
    open_timeout: float
    subscribe: bool
    renew_tokens: bool
    acks: bool = False


class SocketSession:
    """Runs one connection. `on_live(resumed, recovered)` is called once the socket is
    authenticated (and subscribed, when asked): `resumed` when it gave `lastEventId`,
    `recovered` False when the server said the events after it were deleted (nothing is
    replayed); `on_frame(frame)` with every other frame, in order. With `config.acks`, it acks
    what `receipts` says is handled, beyond the resume point."""

    def __init__(self, config: SocketConfig, tokens: Tokens, *, cursor: int | None,
                 on_live: Callable[[bool, bool], None],
                 on_frame: Callable[[dict[str, Any]], None],
                 receipts: Receipts | None = None) -> None:
        self._config, self._tokens, self._cursor = config, tokens, cursor
        self._receipts = receipts
        self._on_live, self._on_frame = on_live, on_frame
        self._token: str | None = None
        self._authenticated = self._live = False
        self._recovered = True
        self._auth_error: str | None = None
        self._fatal: ClientError | None = None
        self._helpers: list[asyncio.Task[None]] = []

    async def run(self) -> SessionEnd:
        """Connect and converse until the socket closes; raises only errors not to retry."""
        code = NO_CLOSE_FRAME
        try:
            # The token first: the server's 10 s auth deadline starts with the connection.
            self._token = await self._tokens.current()
            async with connect(self._config.url, open_timeout=self._config.open_timeout,
                               ping_interval=self._config.keepalive,
                               ping_timeout=self._config.keepalive) as ws:
                code = await self._converse(ws)
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else NO_CLOSE_FRAME
        except InvalidURI as exc:
            raise ClientError(f"not a WebSocket URL: {exc.uri!r}") from None  # will not heal
        except (OSError, TimeoutError, WebSocketException) as exc:
            log.debug("socket to %s failed: %s", self._config.url, exc)
        except AuthError:
            raise  # the credentials themselves were refused: retrying will not help
        except ClientError as exc:  # no token could be had (the server is down, say)
            log.debug("no token for the socket: %s", exc)
        finally:
            for task in self._helpers:
                task.cancel()
            await asyncio.gather(*self._helpers, return_exceptions=True)
        if self._fatal is not None:
            raise self._fatal
        return SessionEnd(self._live, code, self._token, self._auth_error)

    async def _converse(self, ws: ClientConnection) -> int:
        auth: dict[str, Any] = {"type": "auth", "token": self._token}
        if self._cursor is not None:
            auth["lastEventId"] = self._cursor
        if self._acking:
            auth["acks"] = True
        await ws.send(json.dumps(auth))
        async for text in ws:
            try:
                frame = json.loads(text)
            except ValueError:
                log.warning("a frame that is not JSON was ignored")
                continue
            if isinstance(frame, dict):
                await self._handle(ws, frame)
        return ws.close_code or NO_CLOSE_FRAME

    async def _handle(self, ws: ClientConnection, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "auth_success" and not self._authenticated:
            self._authenticated = True
            self._recovered = frame.get("recovered") is not False
            self._spawn(self._ping(ws))
            if self._acking:
                self._spawn(self._ack(ws))
            if self._config.renew_tokens:
                self._spawn(self._renew(ws))
            if self._config.subscribe:
                await ws.send(json.dumps({"type": "subscribe_assignments"}))
            else:
                self._go_live()
        elif kind == "subscribed_assignments":
            self._go_live()
        elif kind == "auth_error":
            self._auth_error = str(frame.get("message"))
        elif kind == "error":
            log.warning("the server refused a frame: %s: %s", frame.get("code"),
                        frame.get("message"))
        self._on_frame(frame)

    @property
    def _acking(self) -> bool:
        return self._config.acks and self._receipts is not None

    async def _ack(self, ws: ClientConnection) -> None:
        """One `ack` each time the handled cursor moves: cumulative, so a burst handled at
        once costs one frame. The resume point needs none: with `acks` the server takes
        `lastEventId` as handled."""
        assert self._receipts is not None
        acked = self._cursor
        with contextlib.suppress(ConnectionClosed):
            async for handled in self._receipts.handled.changes():
                if handled is not None and (acked is None or handled > acked):
                    await ws.send(json.dumps({"type": "ack", "eventId": handled}))
                    acked = handled

    def _go_live(self) -> None:
        if not self._live:
            self._live = True
            self._on_live(self._cursor is not None, self._recovered)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self._helpers.append(asyncio.get_running_loop().create_task(work))

    async def _ping(self, ws: ClientConnection) -> None:
        """The application ping that keeps a subscription active (protocol pings do not)."""
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.sleep(self._config.ping_interval)
                await ws.send('{"type": "ping"}')

    async def _renew(self, ws: ClientConnection) -> None:
        """Send `auth` with a fresh token on the open socket before the server's watch on the
        current one runs out (it would close the socket with 4401)."""
        with contextlib.suppress(ConnectionClosed):
            while self._token is not None:
                delay = self._tokens.renew_in(self._token)
                if delay is None:
                    return
                await asyncio.sleep(delay)
                fresh = await self._fresh_token(ws)
                if fresh is None:
                    await asyncio.sleep(1.0)  # the server still accepts the old one a while
                    continue
                await ws.send(json.dumps({"type": "auth", "token": fresh}))
                self._token = fresh

    async def _fresh_token(self, ws: ClientConnection) -> str | None:
        try:
            return await self._tokens.refresh(stale=self._token)
        except AuthError as exc:  # the credentials themselves were refused
            self._fatal = exc
            await ws.close()
        except ClientError as exc:
            log.warning("could not renew the token: %s", exc)
        return None
