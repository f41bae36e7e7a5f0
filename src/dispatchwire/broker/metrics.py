"""Prometheus metrics of the broker, served at /metrics."""

from prometheus_client import Counter, Gauge

__all__ = ["BROKER_CONNECTED", "BROKER_DROPPED", "BROKER_GAPS"]

BROKER_CONNECTED = Gauge("dispatchwire_broker_connected",
                         "1 while this process is subscribed to the broker's channel")
BROKER_DROPPED = Counter("dispatchwire_broker_dropped",
                         "Messages that never reached the broker (their events stay stored)")
BROKER_GAPS = Counter("dispatchwire_broker_gaps",
                      "Times sockets caught up from the database after the broker lost messages")
