"""Who a user is, kept for a few seconds (tests/auth/test_auth.py: a deleted user is refused)."""

import time

from dispatchwire.auth.security import KnownUsers


def test_a_user_is_known_until_the_time_to_live_runs_out() -> None:
    known = KnownUsers(ttl_s=0.05)
    assert known.get(7) is None
    known.put(7, "master", 3)
    known.put(8, "client", None)
    assert known.get(7) == ("master", 3, False)
    assert known.get(8) == ("client", None, False)
    time.sleep(0.06)
    assert known.get(7) is None and known.get(8) is None


def test_the_users_kept_are_bounded_and_the_oldest_go_first() -> None:
    known = KnownUsers(ttl_s=60)
    known.CACHED = 3
    for user_id in (1, 2, 3):
        known.put(user_id, "client", None)
    known.put(1, "client", None)  # put again: now the newest
    known.put(4, "client", None)
    assert [user_id for user_id in (1, 2, 3, 4) if known.get(user_id)] == [1, 3, 4]

