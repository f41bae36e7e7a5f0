"""A socket replaced by a sixth one of the same user (4409) closes its client with Replaced
instead of reconnecting (which would replace another, and so on); and the rules that decide
what the application has already seen, checked on their own."""

import asyncio
from datetime import UTC, datetime

import pytest

from dispatchwire.client import (
    Attempt,
    Backoff,
    CustomerClient,
    NewOffer,
    Observable,
    Offer,
    OfferExpired,
    Options,
    Replaced,
    State,
    StatusUpdate,
)
from dispatchwire.client._dedup import Dedup
from dispatchwire.client._poller import OpenOffers, offer_events
from tests.client.conftest import Server, register

FAST = Options(backoff=Backoff(base=0.02, cap=0.1))


async def test_a_replaced_socket_is_surfaced_not_fought_over(shared_server: Server) -> None:
    account = await register(shared_server, "client")
    attempts: list[Attempt] = []
    oldest = CustomerClient(shared_server.url, token=account.token, options=FAST,
                            on_attempt=attempts.append)
    others = [CustomerClient(shared_server.url, token=account.token, options=FAST)
              for _ in range(5)]
    await oldest.start()
    updates = oldest.status_updates()
    try:
        for client in others:  # the server keeps five sockets a user: the sixth replaces one
            await client.start()
        with pytest.raises(Replaced):
            await asyncio.wait_for(oldest.wait_closed(), 5)
        with pytest.raises(Replaced):
            await asyncio.wait_for(anext(updates), 1)
        await asyncio.sleep(0.5)  # time enough for many retries, had it retried
        assert [a.number for a in attempts] == [0]
        assert all(client.state.value is State.CONNECTED for client in others)
    finally:
        await asyncio.gather(oldest.close(), *(client.close() for client in others))


NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def offer(offer_id: int) -> Offer:
    return Offer(offer_id, offer_id, "oven", "no heat", "1 Main St", NOON, NOON)


def test_status_updates_only_move_forward() -> None:
    dedup = Dedup()
    assert dedup.admit(StatusUpdate(1, "completed", source="poll"))  # the poll saw the end
    for status in ("assigned", "in_progress", "completed"):  # the replay's older news
        assert not dedup.admit(StatusUpdate(1, status, 5))
    assert dedup.admit(StatusUpdate(2, "assigned", 6))
    assert dedup.admit(StatusUpdate(2, "cancelled", 7))


def test_the_cursor_and_the_content_each_drop_repeats() -> None:
    dedup = Dedup(last_event_id=3)
    assert not dedup.new_frame(3) and dedup.new_frame(4) and not dedup.new_frame(4)
    assert dedup.cursor == 4
    assert dedup.admit(NewOffer(offer(9), source="poll"))
    assert not dedup.admit(NewOffer(offer(9), 5))  # the same offer from the replay
    assert dedup.admit(OfferExpired(9, 6))
    assert not dedup.admit(OfferExpired(9, source="poll"))
    assert dedup.admit(NewOffer(offer(10), source="poll"))


def test_a_poll_calls_gone_only_offers_delivered_before_it_was_sent() -> None:
    open_offers = OpenOffers()
    open_offers.add(offer(1), seq=1)
    open_offers.add(offer(2), seq=5)  # pushed while the poll's request was on its way
    events = offer_events([offer(3)], open_offers, polled_after=4)
    assert events == [NewOffer(offer(3), source="poll"), OfferExpired(1, source="poll")]


def test_backoff_stays_within_its_window() -> None:
    backoff = Backoff(base=1.0, cap=60.0)
    assert [backoff.window(n) for n in (1, 2, 5, 6, 100)] == [2.0, 4.0, 32.0, 60.0, 60.0]
    assert all(0 <= backoff.delay(1) <= 2.0 for _ in range(200))
    with pytest.raises(ValueError, match="base"):
        Backoff(base=0)


async def test_the_state_can_be_read_watched_awaited_and_iterated() -> None:
    state = Observable(State.CONNECTING)
    seen: list[State] = []
    unsubscribe = state.subscribe(seen.append)
    changes = state.changes()
    assert await asyncio.wait_for(anext(changes), 1) is State.CONNECTING
    waiter = asyncio.ensure_future(state.wait_for(State.POLLING))
    state.set(State.RECONNECTING)
    state.set(State.RECONNECTING)  # no change, no news
    await asyncio.sleep(0)
    assert not waiter.done()
    state.set(State.POLLING)
    assert await asyncio.wait_for(waiter, 1) is State.POLLING
    # a reader that lags catches up with the latest value
    assert await asyncio.wait_for(anext(changes), 1) is State.POLLING
    unsubscribe()
    state.set(State.CONNECTED)
    assert seen == [State.RECONNECTING, State.POLLING]
