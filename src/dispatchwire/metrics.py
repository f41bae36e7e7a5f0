"""Prometheus metrics of the domain, served at /metrics."""

from prometheus_client import Counter

__all__ = ["EVENTS_STORED", "OFFERS_MADE", "OFFERS_RESOLVED", "ORDERS_PLACED"]

ORDERS_PLACED = Counter("dispatchwire_orders_placed", "Orders placed")
OFFERS_MADE = Counter("dispatchwire_offers_made", "Offers made to masters")
OFFERS_RESOLVED = Counter("dispatchwire_offers_resolved", "Offers that stopped being pending",
                          ["outcome"])
EVENTS_STORED = Counter("dispatchwire_events_stored", "User events stored", ["type"])
