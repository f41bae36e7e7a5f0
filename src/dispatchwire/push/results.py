"""What one push request came to, and how a push service's HTTP answer maps onto it."""

import email.utils
import time
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Outcome", "PushResult", "outcome_of_status", "retry_after_s"]

MAX_RETRY_AFTER_S = 24 * 3600.0  # a service asking for more than a day is not taken literally


class Outcome(StrEnum):
    """The `result` label of `dispatchwire_push_sent_total`, and what the caller does next."""

    OK = "ok"  # accepted by the push service (2xx)
    GONE = "gone"  # the subscription no longer exists (404/410): delete it
    RETRY = "retry"  # 429, 5xx, a timeout or a broken connection: try again later
    ERROR = "error"  # any other answer (a redirect too), or nothing could be sent


@dataclass(frozen=True, slots=True)
class PushResult:
    """The result of one push: `detail` is a short sentence for `lastError`, never a secret."""

    outcome: Outcome
    status: int | None = None  # the push service's HTTP status, None when none came
    retry_after_s: float | None = None  # the service's Retry-After, in seconds, when given
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


def outcome_of_status(status: int) -> Outcome:
    """RFC 8030's answers: 2xx ok, 404/410 gone, 429/5xx retry, anything else an error."""
    if 200 <= status < 300:
        return Outcome.OK
    if status in (404, 410):
        return Outcome.GONE
    if status == 429 or 500 <= status < 600:
        return Outcome.RETRY
    return Outcome.ERROR  # 3xx included: a redirect is never followed


def retry_after_s(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a `Retry-After` header (delay-seconds or an HTTP date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT by definition
        return None
    delay = when.timestamp() - (time.time() if now is None else now)
    return min(max(delay, 0.0), MAX_RETRY_AFTER_S)
