"""Prometheus metrics of the domain, served at /metrics."""

from prometheus_client import Counter, Gauge

__all__ = [
    "EVENTS_STORED", "MASTERS_ON_SHIFT", "OFFERS_MADE", "OFFERS_RESOLVED", "ORDERS_PLACED",
    "PENDING_POLLS",
]

ORDERS_PLACED = Counter("dispatchwire_orders_placed", "Orders placed")
OFFERS_MADE = Counter("dispatchwire_offers_made", "Offers made to masters")
OFFERS_RESOLVED = Counter("dispatchwire_offers_resolved", "Offers that stopped being pending",
                          ["outcome"])
EVENTS_STORED = Counter("dispatchwire_events_stored", "User events stored", ["type"])
PENDING_POLLS = Counter("dispatchwire_pending_polls",
                        "GET /api/assignments/pending requests (fallback polling), per master",
                        ["master_id"])
MASTERS_ON_SHIFT = Gauge("dispatchwire_masters_on_shift", "Masters on shift (from the database)")
