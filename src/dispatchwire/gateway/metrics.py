"""Prometheus metrics of the gateway (rules in deploy/prometheus/dispatchwire-rules.yml).

Those counted on every frame are tallies (`dispatchwire.tally`): plain numbers, read at each
scrape."""

from prometheus_client import Counter, Gauge, Histogram

from dispatchwire.tally import HistogramTally, LabelTally

__all__ = [
    "CLOSED", "CONNECTIONS", "DELIVERY_LATENCY", "FRAMES_IN", "FRAMES_OUT",
    "RATE_LIMITED", "RECONNECT_SECONDS", "REPLAYED_EVENTS", "REPLAYS", "SUBSCRIPTIONS",
]

CONNECTIONS = Gauge("dispatchwire_ws_connections", "Authenticated WebSocket connections")
SUBSCRIPTIONS = Gauge("dispatchwire_ws_subscriptions",
                      "Sockets subscribed to assignments (masters)")
FRAMES_IN = LabelTally("dispatchwire_ws_frames_in", "Frames received, by message type", "type")
FRAMES_OUT = LabelTally("dispatchwire_ws_frames_out", "Frames sent, by message type", "type")
DELIVERY_LATENCY = HistogramTally(
    "dispatchwire_ws_delivery_latency_seconds",
    "From an event's storing to its frame being written to a live socket",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
REPLAYS = Counter("dispatchwire_ws_replays", "Resumes with lastEventId")
REPLAYED_EVENTS = Counter("dispatchwire_ws_replayed_events", "Stored events replayed on resume")
RATE_LIMITED = Counter("dispatchwire_ws_rate_limited", "Frames refused by the rate limit")
CLOSED = Counter("dispatchwire_ws_closed_by_server", "Sockets the server closed, by reason",
                 ["reason"])
RECONNECT_SECONDS = Histogram(
    "dispatchwire_ws_reconnect_seconds",
    "From a user's last socket dropping to the user authenticating again",
    buckets=(0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300),
)
