"""Token expiries on one timer (gateway/expiries.py): each socket told when its own token runs
out, in order, and never once it ended or took a fresh token; reconnects leave nothing behind.
The socket-level behaviour (auth_error, then close 4401) is in test_protocol.py."""

import asyncio
import time

import pytest

from dispatchwire.gateway.expiries import Expiries

pytestmark = pytest.mark.timeout(30)


async def until_told(told: list[tuple[str, float]], count: int, within: float = 5.0) -> None:
    """Until `count` sockets were told (a loaded machine runs timers late, never early)."""
    deadline = time.monotonic() + within
    while len(told) < count:
        assert time.monotonic() < deadline, told
        await asyncio.sleep(0.02)


class Socket:
    def __init__(self, name: str, told: list[tuple[str, float]]) -> None:
        self.name, self.told = name, told

    def expired(self) -> None:
        self.told.append((self.name, time.time()))


async def test_each_socket_is_told_when_its_own_token_runs_out_in_order() -> None:
    expiries, told = Expiries(), []
    now = time.time()
    expiries.watch(2, now + 0.4, Socket("late", told))
    expiries.watch(1, now + 0.2, Socket("early", told))  # earlier than the timer armed: re-armed
    expiries.watch(3, now + 60, Socket("later", told))
    await until_told(told, 2)
    assert [name for name, _ in told] == ["early", "late"]
    assert told[0][1] >= now + 0.2 and told[1][1] >= now + 0.4  # never before its time
    assert len(expiries) == 1  # the hour-away one is still watched


async def test_a_socket_that_ended_or_took_a_fresh_token_is_not_told_at_the_old_time() -> None:
    expiries, told = Expiries(), []
    now = time.time()
    expiries.watch(1, now + 0.2, Socket("ended", told))
    expiries.watch(2, now + 0.2, Socket("fresh token", told))
    expiries.forget(1)
    expiries.watch(2, now + 0.6, Socket("fresh token", told))
    await asyncio.sleep(0.4)
    assert told == []
    await until_told(told, 1)
    await asyncio.sleep(0.1)  # and no one else
    assert [name for name, _ in told] == ["fresh token"]
    assert told[0][1] >= now + 0.6


async def test_reconnects_leave_nothing_behind() -> None:
    expiries, told = Expiries(), []
    far = time.time() + 3600
    expiries.watch(0, far, Socket("stays", told))
    for socket_id in range(1, 10_001):  # each connects, authenticates and goes
        expiries.watch(socket_id, far + socket_id, Socket("went", told))
        expiries.forget(socket_id)
    assert len(expiries) == 1
    assert len(expiries._heap) <= 2 + 64  # left-behind entries are swept, not kept for an hour
    expiries.forget(0)
    assert not expiries._heap and expiries._timer is None  # nothing left to wait for
