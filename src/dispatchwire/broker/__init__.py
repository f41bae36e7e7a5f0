"""Brokers, chosen by URL scheme: `memory://` (one process) or `redis://` (many).

Each backend is one module behind the `Broker` interface, imported only when its scheme is
asked for; a new one (NATS, say) is one more module and one more line here.
"""

from urllib.parse import urlsplit

from dispatchwire.broker import metrics as _metrics  # noqa: F401  (served at /metrics from start)
from dispatchwire.broker.base import Broker, GapListener, Listener, TransientListener
from dispatchwire.errors import ConfigurationError

__all__ = ["Broker", "GapListener", "Listener", "TransientListener", "broker_from_url"]


def broker_from_url(url: str) -> Broker:
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        from dispatchwire.broker.memory import MemoryBroker

        return MemoryBroker()
    if scheme in ("redis", "rediss", "unix"):
        from dispatchwire.broker.redis import RedisBroker

        return RedisBroker(url)
    raise ConfigurationError(
        f"unsupported broker URL scheme {scheme!r}: expected memory:// or redis://")
