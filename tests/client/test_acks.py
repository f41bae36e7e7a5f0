"""The SDK acks what the application has handled, and nothing it has not: the server records
an SDK master's offers delivered `via: socket`; an offer held by a callback that blocks, or
waiting in an iterator nobody reads, is not acked (and, since the client said it acks, no
pong stands in for it) until the application takes it; a burst handled at once costs one
`ack`; a reconnect resumes after what was handled, not after what was seen."""

import asyncio
from typing import Any

from dispatchwire.client import Backoff, CustomerClient, MasterClient, Offer, Options, State
from tests.client.conftest import (
    Server,
    call,
    delivered_via,
    eventually,
    frames_in,
    pending_offers,
    place_order,
    register,
    unique_appliance,
)
from tests.client.gate import Gate
from tests.conftest import wait_for

# No fallback polling: a poll racing the order would (rightly) record the offer delivered
# `via: poll`, which is not what these tests are about.
QUIET = Options(poll=False)


async def test_an_sdk_master_acks_its_offer_and_the_server_records_it_via_socket(
        shared_server: Server) -> None:
    server = shared_server
    appliance = unique_appliance()
    master = await register(server, "master", specializations=[appliance])
    customer = await register(server, "client")
    async with MasterClient(server.url, email=master.email, password=master.password,
                            options=QUIET) as sdk:
        offers = sdk.offers()
        await place_order(server, customer, appliance)
        offer = await asyncio.wait_for(anext(offers), 5)
        assert await eventually(lambda: delivered_via(server, offer.id)) == "socket"
        assert sdk.handled_event_id == sdk.last_event_id == 1
        pending = await sdk.pending()  # a poll now changes nothing: the first receipt stays
        assert [(o.id, o.delivered_via) for o in pending] == [(offer.id, "socket")]


async def test_an_offer_a_blocked_callback_holds_is_not_acked_until_it_returns(
        shared_server: Server) -> None:
    server = shared_server
    appliance = unique_appliance()
    master = await register(server, "master", specializations=[appliance])
    customer = await register(server, "client")
    release = asyncio.Event()
    got: list[Offer] = []

    async def slow(offer: Offer) -> None:
        got.append(offer)
        await release.wait()  # the application is busy with it

    async with MasterClient(server.url, email=master.email, password=master.password,
                            options=QUIET) as sdk:
        sdk.on_offer(slow)
        await place_order(server, customer, appliance)
        [offer] = await eventually(lambda: got)
        await asyncio.sleep(1.0)  # an ack (or a pong: the client said it acks) would be in
        assert delivered_via(server, offer.id) is None
        assert sdk.last_event_id == 1 and sdk.handled_event_id is None
        release.set()
        assert await eventually(lambda: delivered_via(server, offer.id)) == "socket"
        assert sdk.handled_event_id == 1


async def test_an_offer_waiting_in_an_unread_iterator_is_acked_once_read(
        shared_server: Server) -> None:
    server = shared_server
    appliance = unique_appliance()
    master = await register(server, "master", specializations=[appliance])
    customer = await register(server, "client")
    async with MasterClient(server.url, email=master.email, password=master.password,
                            options=QUIET) as sdk:
        offers = sdk.offers()  # listening, but the application has not come to read it yet
        await place_order(server, customer, appliance)
        await eventually(lambda: sdk.last_event_id == 1)
        [waiting] = pending_offers(server, sdk.user.master_id or 0)
        await asyncio.sleep(1.0)
        assert delivered_via(server, waiting) is None
        offer = await asyncio.wait_for(anext(offers), 1)
        assert offer.id == waiting
        assert await eventually(lambda: delivered_via(server, offer.id)) == "socket"


async def test_a_burst_handled_at_once_costs_one_ack(make_server: Any) -> None:
    server: Server = make_server()
    appliance = unique_appliance()
    master = await register(server, "master", specializations=[appliance])
    customer = await register(server, "client")
    await call(server, "POST", "/api/masters/me/shift/start", master)
    async with CustomerClient(server.url, email=customer.email, password=customer.password,
                              options=QUIET) as follower:
        updates = follower.status_updates()
        placed = await place_order(server, customer, appliance)
        [offer] = await call(server, "GET", "/api/assignments/pending", master)
        await call(server, "POST", f"/api/assignments/{offer['id']}/accept", master)
        for status in ("in_progress", "completed"):
            await call(server, "POST", f"/api/orders/{placed['id']}/status", master,
                       json={"status": status})
        await eventually(lambda: follower.last_event_id == 3)
        await asyncio.sleep(0.3)
        assert await frames_in(server, "ack") == 0  # seen, not handled: nothing acked
        read = [await anext(updates) for _ in range(3)]  # handled in one go
        assert [update.status for update in read] == ["assigned", "in_progress", "completed"]
        assert follower.handled_event_id == 3
        await wait_for(lambda: frames_in(server, "ack"))
        await asyncio.sleep(0.3)
        assert await frames_in(server, "ack") == 1  # one cumulative ack, of event 3


async def test_a_reconnect_resumes_after_what_was_handled_not_what_was_seen(
        shared_server: Server) -> None:
    server = shared_server
    appliance = unique_appliance()
    master = await register(server, "master", specializations=[appliance])
    customer = await register(server, "client")
    gate = await Gate(server.port or 0).start()
    options = Options(poll=False, backoff=Backoff(base=0.05, cap=0.2))
    try:
        async with MasterClient(server.url, email=master.email, password=master.password,
                                ws_url=gate.ws_url, options=options) as sdk:
            offers = sdk.offers()
            states: list[State] = []
            sdk.state.subscribe(states.append)
            await place_order(server, customer, appliance)
            await eventually(lambda: sdk.last_event_id == 1)
            [waiting] = pending_offers(server, sdk.user.master_id or 0)
            gate.shut()  # the socket drops with the offer seen, not yet handed out
            await eventually(lambda: State.RECONNECTING in states)
            gate.open()
            await eventually(lambda: states[-1] is State.CONNECTED)
            # Resumed with lastEventId 0, not 1: the server took no receipt from the resume.
            await asyncio.sleep(0.5)
            assert delivered_via(server, waiting) is None
            offer = await asyncio.wait_for(anext(offers), 1)
            assert offer.id == waiting and sdk.last_event_id == 1  # the replay's copy dropped
            assert await eventually(lambda: delivered_via(server, offer.id)) == "socket"
    finally:
        await gate.close()
