"""`dispatchwire serve`: uvicorn's server, stopped by SIGINT, SIGTERM or SIGHUP with one line.

uvicorn shuts down cleanly on SIGINT and SIGTERM, then raises the signal again, so that Ctrl-C
ended in a 25-line `KeyboardInterrupt` traceback; SIGHUP (a closed terminal) killed the
process outright, skipping the shutdown. Here the three shut down alike and end with one line.
"""

import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Iterator
from types import FrameType

import uvicorn

from dispatchwire.logs import Ids

__all__ = ["STOP_SIGNALS", "Server", "pages"]

log = logging.getLogger("dispatchwire.serve")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PAGES = (("/", "client page"), ("/master", "master page"), ("/admin", "admin page"),
         ("/docs", "API docs"))


def pages(base: str) -> str:
    """Where the pages are, for people: one address a line."""
    return "\n".join(f"  {what:<12} {base}{path}" for path, what in PAGES)


class Server(uvicorn.Server):
    """uvicorn's server with the stop signals of a service, telling where it serves."""

    def __init__(self, config: uvicorn.Config, *, ids: Ids | None = None) -> None:
        super().__init__(config)
        self.stopped_by: signal.Signals | None = None
        self._ids = ids

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """As uvicorn's, for SIGHUP too (unless ignored, as under `nohup`), and without raising
        the signal again at the end."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS
                     if sig != signal.SIGHUP or signal.getsignal(sig) is not signal.SIG_IGN}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.stopped_by = self.stopped_by or signal.Signals(sig)
        super().handle_exit(sig, frame)  # a second SIGINT forces the exit, as in uvicorn

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started:
            return
        state = getattr(self.config.app, "state", None)  # the FastAPI app, once it started
        ctx = getattr(state, "ctx", None)
        if self._ids is not None and ctx is not None:
            self._ids.node = ctx.broker.node_id
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        host = f"[{host}]" if ":" in host else host
        log.info("serving on http://%s:%s (stop with Ctrl-C, SIGTERM or SIGHUP):\n%s",
                 host, port, pages(f"http://{host}:{port}"))

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        await super().serve(sockets)
        how = f"by {self.stopped_by.name}" if self.stopped_by else "on its own"
        log.info("dispatchwire stopped %s", how)
