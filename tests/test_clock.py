"""Times as the wire and the database keep them (dispatchwire/clock.py)."""

import time
from datetime import UTC, datetime

from dispatchwire.clock import at_epoch_ms, isoformat, parse_time, utcnow


def test_a_moment_kept_as_epoch_milliseconds_is_the_one_utcnow_gives() -> None:
    before = utcnow()
    moment = at_epoch_ms(int(time.time() * 1000))
    after = utcnow()
    assert before <= moment <= after and moment.tzinfo is UTC
    assert moment.microsecond % 1000 == 0
    assert at_epoch_ms(1_765_000_000_999) == datetime(2025, 12, 6, 5, 46, 40, 999_000, UTC)


def test_parse_time_reads_back_what_isoformat_wrote() -> None:
    moment = utcnow()
    assert parse_time(isoformat(moment)) == moment
    assert parse_time("2025-12-23T10:45:00.000Z") == datetime(2025, 12, 23, 10, 45, tzinfo=UTC)
