"""Time in one place: timezone-aware UTC, formatted as the wire shows it."""

from datetime import UTC, datetime

__all__ = ["isoformat", "parse_time", "utcnow"]


def utcnow() -> datetime:
    """Now, to the millisecond: the precision the wire shows, so stored and sent times agree."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def isoformat(moment: datetime) -> str:
    """`2025-12-23T10:45:00.000Z`, the seed's format."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds")[:23] + "Z"


def parse_time(text: str) -> datetime:
    """The inverse of `isoformat`."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
