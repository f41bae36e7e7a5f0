"""Time in one place: timezone-aware UTC, formatted as the wire shows it."""

from datetime import UTC, datetime

__all__ = ["at_epoch_ms", "isoformat", "parse_time", "utcnow"]


def utcnow() -> datetime:
    """Now, to the millisecond: the precision the wire shows, so stored and sent times agree."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def at_epoch_ms(milliseconds: int) -> datetime:
    """The moment `milliseconds` after the Unix epoch (`int(time.time() * 1000)`), as `utcnow`
    gives it: a hot path keeps the integer, and makes the datetime later, once per millisecond."""
    seconds, rest = divmod(milliseconds, 1000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest * 1000)


def isoformat(moment: datetime) -> str:
    """`2025-12-23T10:45:00.000Z`, the seed's format."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds")[:23] + "Z"


def parse_time(text: str) -> datetime:
    """The inverse of `isoformat` (Python 3.11 on reads the `Z` itself)."""
    return datetime.fromisoformat(text)
