"""Kill the server under a subscribed master: the state goes to reconnecting, then polling;
start it again on the same port and database: an offer made while the socket was down
reaches the application once, whether a poll or the replay brings it first, the socket comes
back (resuming from the last eventId) and polling stops. Status updates found by polling the
orders are not handed over again by the replay either.

The socket is held down by a TCP gate in front of the server (REST goes straight to it), so
that "while the socket was down" is a fact of the test, not a race with the reconnect."""

import asyncio
import re
from typing import Any

import httpx
import pytest

from dispatchwire.client import (
    Backoff,
    CustomerClient,
    MasterClient,
    NewOffer,
    Options,
    State,
    StatusUpdate,
)
from tests.client.conftest import (
    Server,
    call,
    eventually,
    place_order,
    register,
    unique_appliance,
)
from tests.client.gate import Gate

POLL_S = 0.25


async def pending_polls(server: Server, master_id: int) -> float:
    """The server's own count of this master's `GET /api/assignments/pending` calls."""
    async with httpx.AsyncClient(base_url=server.url) as http:
        text = (await http.get("/metrics")).text
    found = re.search(rf'dispatchwire_pending_polls_total{{master_id="{master_id}"}} (\S+)',
                      text)
    return float(found.group(1)) if found else 0.0


@pytest.mark.parametrize("first", ["poll", "replay"])
async def test_an_offer_made_while_the_socket_was_down_arrives_once(
        make_server: Any, first: str) -> None:
    server: Server = make_server()
    gate = await Gate(server.port or 0).start()
    appliance = unique_appliance()
    master = await register(server, "master", specializations=[appliance])
    customer = await register(server, "client")
    # "poll": polls every 0.25 s find the offer before the socket is let back;
    # "replay": one poll only, while the server is dead, so the replay brings the offer.
    options = Options(poll_interval=POLL_S if first == "poll" else 60.0, poll_after_attempts=2,
                      backoff=Backoff(base=0.02, cap=0.2), ping_interval=1.0)
    frames: list[dict[str, Any]] = []
    sdk = MasterClient(server.url, email=master.email, password=master.password,
                       options=options, ws_url=gate.ws_url, on_frame=frames.append)
    try:
        await sdk.start()
        states: list[State] = []
        sdk.state.subscribe(states.append)
        events = sdk.events()
        # One offer before the kill, declined, so that the client holds an eventId to resume.
        await place_order(server, customer, appliance)
        before = await asyncio.wait_for(anext(events), 5)
        assert isinstance(before, NewOffer) and before.event_id == 1
        await sdk.decline(before.offer)

        server.kill()
        gate.shut()
        await asyncio.wait_for(sdk.state.wait_for(State.POLLING), 5)
        assert states == [State.RECONNECTING, State.POLLING]

        await server.restart()
        placed = await place_order(server, customer, appliance)  # the socket is still down
        if first == "poll":
            found = await asyncio.wait_for(anext(events), 5)
            assert isinstance(found, NewOffer) and found.source == "poll"
        gate.open()
        await asyncio.wait_for(sdk.state.wait_for(State.CONNECTED), 5)
        if first == "replay":
            found = await asyncio.wait_for(anext(events), 5)
            assert isinstance(found, NewOffer) and found.source == "socket"
            await sdk.poll_now()  # a poll now finds the same offer pending: not handed again
        assert found.offer.order_id == placed["id"]
        # The replay (lastEventId=1) brought the offer's frame in both cases.
        await eventually(lambda: any(f.get("eventId") == 2 for f in frames))
        assert [f["eventId"] for f in frames if "eventId" in f] == [1, 2]

        await asyncio.sleep(POLL_S)  # a poll sent just before the socket came back lands
        polls = await pending_polls(server, master.user["masterId"])
        await asyncio.sleep(4 * POLL_S)
        assert await pending_polls(server, master.user["masterId"]) == polls  # polling stopped
        assert sdk.state.value is State.CONNECTED and sdk.last_event_id == 2
        order = await sdk.accept(found.offer)
        update = await asyncio.wait_for(anext(events), 5)  # the next event is new, not a copy
        assert (update.event_id, getattr(update, "status", None)) == (3, "assigned")
        assert order.id == placed["id"]
    finally:
        await sdk.close()
        await gate.close()
    assert (await call(server, "GET", "/api/masters/me", master))["onShift"] is False


async def test_status_updates_found_by_polling_are_not_repeated_by_the_replay(
        shared_server: Server) -> None:
    """A customer's socket is down (the server is up): a status change reaches it by polling
    `GET /api/orders`; the replay's copy is dropped; later changes come live again."""
    server = shared_server
    gate = await Gate(server.port or 0).start()
    appliance = unique_appliance()
    master = await register(server, "master", specializations=[appliance])
    customer = await register(server, "client")
    await call(server, "POST", "/api/masters/me/shift/start", master)
    frames: list[dict[str, Any]] = []
    options = Options(poll_interval=POLL_S, poll_after_attempts=1,
                      backoff=Backoff(base=0.02, cap=0.2))
    sdk = CustomerClient(server.url, token=customer.token, options=options,
                         ws_url=gate.ws_url, on_frame=frames.append)
    try:
        await sdk.start()
        updates = sdk.status_updates()
        order = await sdk.place_order(appliance, "no heat", "1 Main St")
        [offer] = await call(server, "GET", "/api/assignments/pending", master)
        await call(server, "POST", f"/api/assignments/{offer['id']}/accept", master)
        assert await asyncio.wait_for(anext(updates), 5) == \
            StatusUpdate(order.id, "assigned", 1, "socket")

        gate.shut()
        await asyncio.wait_for(sdk.state.wait_for(State.POLLING), 5)
        await call(server, "POST", f"/api/orders/{order.id}/status", master,
                   json={"status": "in_progress"})
        assert await asyncio.wait_for(anext(updates), 5) == \
            StatusUpdate(order.id, "in_progress", None, "poll")
        gate.open()
        await asyncio.wait_for(sdk.state.wait_for(State.CONNECTED), 5)
        await eventually(lambda: any(f.get("eventId") == 2 for f in frames))  # replayed
        await call(server, "POST", f"/api/orders/{order.id}/status", master,
                   json={"status": "completed"})
        # The next update is the live one: the replayed in_progress was not handed over.
        assert await asyncio.wait_for(anext(updates), 5) == \
            StatusUpdate(order.id, "completed", 3, "socket")
    finally:
        await sdk.close()
        await gate.close()
