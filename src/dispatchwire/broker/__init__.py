"""Brokers, chosen by URL scheme: `memory://` (one process)."""

from urllib.parse import urlsplit

from dispatchwire.broker.base import Broker, Listener
from dispatchwire.errors import ConfigurationError

__all__ = ["Broker", "Listener", "broker_from_url"]


def broker_from_url(url: str) -> Broker:
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        from dispatchwire.broker.memory import MemoryBroker

        return MemoryBroker()
    raise ConfigurationError(f"unsupported broker URL scheme {scheme!r}: expected memory://")
