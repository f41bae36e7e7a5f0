"""The overload controller's decisions (http/overload.py), interval by interval, on a clock of
the test's own. tests/http/test_overload.py overloads a real server process."""

import logging
import math

import pytest

from dispatchwire.http.overload import ARRIVED, INTERVAL_S, STANDING, Overload

TARGET_MS = 20.0
pytestmark = pytest.mark.timeout(10)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def controller() -> tuple[Overload, Clock]:
    clock = Clock()
    return Overload(TARGET_MS, clock=clock), clock


def interval(overload: Overload, clock: Clock, *, stay_ms: float, answered: int = 50,
             refused: int = 0) -> None:
    """One interval: requests served after staying `stay_ms`, `answered` new orders taken and
    answered, and `refused` more that come while the server holds its limit."""
    for _ in range(5):
        overload.served({ARRIVED: clock.now - stay_ms / 1000})
    for _ in range(answered):
        overload.started()
        overload.finished()
    if refused:
        assert overload.limit is not None
        held = [overload.started() for _ in range(math.ceil(overload.limit))]
        assert all(overload.refuses() for _ in range(refused))
        for _ in held:
            overload.finished()
    clock.now += INTERVAL_S


def take_in(overload: Overload, count: int) -> None:
    """`count` new orders that come one after another, none answered yet."""
    for _ in range(count):
        assert not overload.refuses()
        overload.started()


def test_a_stall_shorter_than_the_standing_intervals_refuses_nothing() -> None:
    overload, clock = controller()
    for _ in range(STANDING - 1):
        interval(overload, clock, stay_ms=500)
    interval(overload, clock, stay_ms=5)
    interval(overload, clock, stay_ms=5)
    assert overload.limit is None
    take_in(overload, 1000)


def test_a_standing_queue_limits_new_orders_at_once_to_rate_times_target() -> None:
    overload, clock = controller()
    for _ in range(STANDING):
        interval(overload, clock, stay_ms=30)  # 50 orders answered a tenth: 500/s
    interval(overload, clock, stay_ms=30)  # its first request ends the third interval
    assert overload.limit == pytest.approx(500 * TARGET_MS / 1000)  # 10 at once
    take_in(overload, 10)
    assert overload.refuses() and overload.refuses()  # the eleventh, and the next
    overload.finished()
    assert not overload.refuses()  # one was answered: room for one


def test_stays_still_over_the_target_shrink_the_limit_down_to_one_order() -> None:
    overload, clock = controller()
    for _ in range(STANDING + 1):
        interval(overload, clock, stay_ms=2 * TARGET_MS)
    assert overload.limit == pytest.approx(10.0)
    limits = []
    for _ in range(5):
        interval(overload, clock, stay_ms=2 * TARGET_MS, refused=3)
        limits.append(overload.limit)
    assert limits[:3] == pytest.approx([5.0, 2.5, 1.25])  # halved while they stay twice over
    assert limits[3:] == [1.0, 1.0]  # never below one order at a time


def test_under_the_target_the_limit_is_rate_times_target_again_then_the_overload_ends(
        caplog: pytest.LogCaptureFixture) -> None:
    overload, clock = controller()
    caplog.set_level(logging.INFO, logger="dispatchwire.http.overload")
    for _ in range(STANDING + 1):
        interval(overload, clock, stay_ms=30)
    interval(overload, clock, stay_ms=60, refused=5)
    interval(overload, clock, stay_ms=5, refused=5)  # caught up, still refusing
    interval(overload, clock, stay_ms=5)
    assert overload.limit == pytest.approx(10.0, rel=0.05)  # from 2.2 the interval before
    for _ in range(STANDING - 1):  # under the target, nothing refused: a lull, at first
        interval(overload, clock, stay_ms=5)
        assert overload.limit is not None
    interval(overload, clock, stay_ms=5)
    assert overload.limit is None
    take_in(overload, 100)
    said = [record.getMessage() for record in caplog.records]
    assert any(line.startswith("overloaded: requests stay 30 ms") for line in said), said
    assert "no longer overloaded: new orders are taken again" in said


def test_with_the_target_at_zero_nothing_is_ever_refused() -> None:
    overload = Overload(0, clock=Clock())
    for _ in range(10 * STANDING):
        overload.served({ARRIVED: -1000.0})
    assert overload.limit is None
    take_in(overload, 1000)
