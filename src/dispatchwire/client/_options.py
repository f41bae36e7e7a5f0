"""The client's knobs, and the socket URL that goes with a server URL."""

from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from dispatchwire.client._backoff import Backoff

__all__ = ["Options", "ws_url_of"]


@dataclass(frozen=True)
class Options:
    """How a client behaves. The defaults suit production; tests shorten the times.

    `ping_interval`: seconds between application pings (the seed's 45 s keeps a
    subscription active). `poll_interval`: seconds between polls of the REST API while the
    socket is down (the seed's 60 s). `poll_after_attempts`: failed reconnect attempts before
    the state turns from `reconnecting` to `polling` (polling starts at once then).
    `backoff`: the waits between attempts. `max_attempts`: failed attempts in a row before
    giving up (`Unreachable`); None retries for ever. `poll`: fall back to polling at all.
    `renew_tokens`: send a fresh token on the open socket before the current one runs out.
    `keepalive`: seconds between protocol pings (and to wait for their pong).
    `manage_shift` (masters): start the shift on `start()`, end it on `close()`.
    `subscribe` (masters): subscribe the socket to offers.
    `acks`: tell the server (`"acks": true` on `auth`) that this client acks, and `ack` each
    event once the application has handled it: its offers then count as delivered only when
    they really reached the application. False behaves as the seed's apps (the server takes
    the pong to a ping after each offer as the receipt).
    """

    ping_interval: float = 45.0
    poll_interval: float = 60.0
    poll_after_attempts: int = 2
    backoff: Backoff = field(default_factory=Backoff)
    max_attempts: int | None = None
    poll: bool = True
    renew_tokens: bool = True
    keepalive: float = 20.0
    open_timeout: float = 10.0
    http_timeout: float = 10.0
    manage_shift: bool = True
    subscribe: bool = True
    queue_size: int = 10_000
    acks: bool = True


def ws_url_of(url: str) -> str:
    """The socket's URL for a server's HTTP URL: `http://h:3000` gives `ws://h:3000/ws`."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/ws", "", ""))
