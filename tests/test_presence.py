"""Presence: one row per master however many sockets he holds, the latest ping kept, shared
between processes as a snapshot that reads back the same, and the active window applied."""

import time
from datetime import UTC, datetime

from dispatchwire.presence import ACTIVE_WINDOW, Presence


def subscribed(presence: Presence, *, socket_id: int, master_id: int) -> None:
    presence.connected(master_id + 100)
    presence.subscribe(socket_id=socket_id, user_id=master_id + 100, master_id=master_id)


def test_a_master_on_two_sockets_is_one_row_with_the_latest_ping() -> None:
    presence = Presence()
    subscribed(presence, socket_id=1, master_id=7)
    subscribed(presence, socket_id=2, master_id=7)
    subscribed(presence, socket_id=3, master_id=8)
    presence._by_socket[1].pinged -= 30  # the first socket pinged half a minute earlier
    rows = {sub.master_id: sub for sub in presence.subscriptions()}
    assert sorted(rows) == [7, 8]
    assert rows[7].pinged == presence.last_ping(socket_id=2)
    presence.unsubscribe(socket_id=2)
    assert presence.subscriptions()[0].pinged == presence.last_ping(socket_id=1)
    presence.unsubscribe(socket_id=1)
    assert [sub.master_id for sub in presence.subscriptions()] == [8]


def test_a_snapshot_reads_back_the_same_on_another_process() -> None:
    here, there = Presence(), Presence()
    subscribed(here, socket_id=1, master_id=7)
    subscribed(here, socket_id=2, master_id=7)
    subscribed(here, socket_id=3, master_id=9)
    there.set_remote([here.snapshot()])
    now = datetime.now(UTC)
    mine = sorted((s.user_id, s.master_id, s.last_ping, s.is_active(now))
                  for s in here.subscriptions())
    theirs = sorted((s.user_id, s.master_id, s.last_ping, s.is_active(now))
                    for s in there.subscriptions())
    assert mine == theirs and len(theirs) == 2
    assert there.live_master_ids() == {7, 9}
    assert there.total_connections() == 3 and there.has_socket(107)


def test_a_master_silent_past_the_active_window_is_not_live() -> None:
    presence = Presence()
    subscribed(presence, socket_id=1, master_id=7)
    subscribed(presence, socket_id=2, master_id=8)
    presence._by_socket[1].pinged = time.time() - ACTIVE_WINDOW.total_seconds() - 1
    presence._live_at = float("-inf")  # rebuilt now rather than within a second
    assert presence.live_master_ids() == {8}
    now = datetime.now(UTC)
    assert {s.master_id: s.is_active(now) for s in presence.subscriptions()} == {7: False,
                                                                                 8: True}
    presence.ping(socket_id=1)
    presence._live_at = float("-inf")
    assert presence.live_master_ids() == {7, 8}
