"""Prometheus metrics of push, served at /metrics."""

from prometheus_client import Counter

from dispatchwire.push.results import Outcome

__all__ = ["PUSH_SENT", "count_sent"]

PUSH_SENT = Counter("dispatchwire_push_sent",
                    "Requests made to a push service, by kind (webpush, fcm) and result "
                    "(ok, gone: 404/410, retry: 429/5xx/timeout, error: any other answer)",
                    ["kind", "result"])
for _kind in ("webpush", "fcm"):  # every series shows from the start, at zero
    for _outcome in Outcome:
        PUSH_SENT.labels(_kind, _outcome.value)


def count_sent(kind: str, outcome: Outcome) -> None:
    """One request made to a push service, and what it came to."""
    PUSH_SENT.labels(kind, outcome.value).inc()
