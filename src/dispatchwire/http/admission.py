"""New connections are let in a few per pass of the event loop.

After a restart, thousands of masters reconnect within a second. The loop reads every ready
socket in one pass (libuv polls again while it finds a full batch of events), so without a
gate one pass parsed 8,000 upgrade requests and did their WebSocket handshakes back to back:
1.7 s in which nothing else ran, not even the pongs of sockets already live. Here a new
connection's first bytes wait; `Admission` lets a few connections on per pass, so each pass
does a bounded amount of handshaking and everything else gets its turn in between. The wait
costs a new connection one pass of the loop when nothing queues.

Only a connection's first request waits: a keep-alive connection's later requests, and an
upgraded socket's frames, are read as they come.

The same protocol also sends each HTTP response's head together with its body (`OneWrite`),
refuses a request its parser cannot read in JSON, like every other error, and while the server
is overloaded answers a new order it refuses as soon as the order's head is read
(`http.fastlane.EarlyRefusals`).
"""

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from prometheus_client import Gauge
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.utils import get_client_addr

from dispatchwire.http.fastlane import EarlyRefusals
from dispatchwire.http.json_errors import raw_response
from dispatchwire.http.overload import ARRIVED

__all__ = ["ADMITTED_PER_PASS", "Admission", "AdmittedHttpProtocol", "OneWrite"]

log = logging.getLogger(__name__)

# A handshake costs ~0.2 ms of CPU: about 5 ms of them per pass.
ADMITTED_PER_PASS = 24
ADMISSION_WAITING = Gauge("dispatchwire_connections_waiting",
                          "New connections whose first request waits its turn to be read")


class Admission:
    """A queue of connections waiting to read, let through `per_pass` at a time."""

    def __init__(self, per_pass: int = ADMITTED_PER_PASS) -> None:
        self._per_pass = per_pass
        self._waiting: deque[Callable[[], None]] = deque()
        self._scheduled = False

    def __len__(self) -> int:
        return len(self._waiting)

    def admit(self, start: Callable[[], None]) -> None:
        """Call `start` in a later pass of the loop, in order of arrival."""
        self._waiting.append(start)
        ADMISSION_WAITING.inc()
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._let_some_in)

    def _let_some_in(self) -> None:
        admitted = min(self._per_pass, len(self._waiting))
        ADMISSION_WAITING.dec(admitted)
        for _ in range(admitted):
            start = self._waiting.popleft()
            try:
                start()
            except Exception:  # one connection's failure must not close the gate on the rest
                log.exception("a new connection failed as it was let in")
        if self._waiting:
            asyncio.get_running_loop().call_soon(self._let_some_in)  # the next pass
        else:
            self._scheduled = False


class AdmittedHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol (and so the WebSocket upgrade) behind an `Admission`.

    A connection's first bytes are held, and its reading paused, until it is admitted; then
    uvicorn parses them as usual. (Reading cannot be paused earlier: uvloop starts it right
    after `connection_made`, whatever that did.)
    """

    def __init__(self, *args: Any, admission: Admission,
                 early_refusals: EarlyRefusals | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._admission = admission
        self._early_refusals = early_refusals
        self._held: list[bytes] | None = []  # None once admitted
        self._responses: OneWrite | None = None
        self._read_at = 0.0  # when the bytes being parsed were read (the loop's clock)

    def on_headers_complete(self) -> None:
        if self._early_refusals and self._early_refusals.active and self._refused_at_once():
            return
        before = self.cycle
        super().on_headers_complete()
        if self.cycle is not before:  # a request (not an upgrade): its response goes out whole
            if self._responses is None:
                self._responses = OneWrite(self.transport)
            self.cycle.transport = self._responses  # type: ignore[assignment]
            # how long it stays in here: http.overload (ASGI lets a server add keys)
            self.scope[ARRIVED] = self._read_at  # type: ignore[literal-required]

    def _refused_at_once(self) -> bool:
        """Answer a new order with the fast lane's 503 now, if it refuses it (`EarlyRefusals`).

        Not a request behind one under way (pipelined: its answer waits its turn), nor one
        that waits for `100 Continue` or ends its connection: those go the usual way."""
        refusals = self._early_refusals
        assert refusals is not None
        if (self.cycle is not None and not self.cycle.response_complete) \
                or self.expect_100_continue or not self.parser.should_keep_alive() \
                or self.parser.should_upgrade():
            return False
        self.scope["method"] = self.parser.get_method().decode("ascii")
        self.scope["path"] = self.root_path + self.url.partition(b"?")[0].decode("latin-1")
        if not refusals.refuses(self.scope):  # type: ignore[arg-type]
            return False
        if self.access_log:
            self.access_logger.info('%s - "%s %s HTTP/1.1" 503', get_client_addr(self.scope),
                                    self.scope["method"], self.scope["path"])
        self.transport.write(refusals.response(self.server_state.default_headers))
        self.cycle = _ANSWERED  # type: ignore[assignment]  # its body is read and dropped
        self.on_response_complete()
        return True

    def on_response_complete(self) -> None:
        if self._responses is not None:
            self._responses.flush()  # a head with no body written (HEAD, 204, 304)
        super().on_response_complete()

    def send_400_response(self, msg: str) -> None:
        """The parser refused the request: uvicorn's 400, in JSON rather than text."""
        detail = "invalid HTTP request: the request line or headers could not be parsed"
        self.transport.write(raw_response(400, "Bad Request", detail,
                                          self.server_state.default_headers))
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._held is None:
            self._read_at = self.loop.time()
            super().data_received(data)
            return
        self._held.append(data)
        if len(self._held) == 1:
            self.flow.pause_reading()
            self._admission.admit(self._admitted)

    def _admitted(self) -> None:
        held, self._held = self._held or [], None
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        self._read_at = self.loop.time()
        super().data_received(b"".join(held))


class _Answered:
    """The cycle of a request answered by the protocol itself: uvicorn skips the body of a
    request whose response is complete, and wakes no one when the connection is lost."""

    response_complete = True
    keep_alive = True

    class message_event:
        @staticmethod
        def set() -> None:
            pass


_ANSWERED = _Answered()


class OneWrite:
    """A connection's transport as its HTTP responses see it: a response's head is held until
    its body's first part, and both go out in one write.

    uvicorn writes the head and the body separately: two system calls (~10 µs each) and two
    TCP segments per response, where one does. A head is only held for a final response
    (`100 Continue` goes out at once), and never past the response's end or the connection's.
    """

    __slots__ = ("_head", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._head is None:
            if data.startswith(b"HTTP/1.1 ") and not data.startswith(b"HTTP/1.1 1"):
                self._head = data
                return
        else:
            data, self._head = self._head + data, None
        self._transport.write(data)

    def flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
