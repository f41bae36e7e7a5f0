"""The SDK against a real server: a master gets an offer live (iterator and callback, once
each), accepts it, moves the job on and hears every status; the customer hears them too; an
offer made before the master connected is found by the first poll; the shift follows the
client's life."""

import asyncio

import pytest

from dispatchwire.client import (
    AuthError,
    ClientError,
    CustomerClient,
    MasterClient,
    NewOffer,
    Offer,
    Options,
    State,
    StatusUpdate,
)
from tests.client.conftest import (
    Server,
    call,
    frames_in,
    place_order,
    register,
    unique_appliance,
)


async def test_an_offer_goes_from_the_socket_to_completed(shared_server: Server) -> None:
    server = shared_server
    appliance = unique_appliance()
    master = await register(server, "master", specializations=[appliance])
    customer = await register(server, "client")
    states: list[State] = []
    called: list[Offer] = []

    pings = await frames_in(server, "ping")
    async with MasterClient(server.url, email=master.email, password=master.password,
                            options=Options(ping_interval=0.2)) as sdk, \
            CustomerClient(server.url, email=customer.email,
                           password=customer.password) as follower:
        sdk.state.subscribe(states.append)
        assert sdk.state.value is State.CONNECTED
        assert (await call(server, "GET", "/api/masters/me", master))["onShift"] is True
        sdk.on_offer(called.append)
        offers, updates = sdk.offers(), follower.status_updates()
        placed = await place_order(server, customer, appliance)

        offer = await asyncio.wait_for(anext(offers), 5)
        assert (offer.order_id, offer.appliance_type) == (placed["id"], appliance)
        assert 0 < offer.seconds_left() <= 300
        order = await sdk.accept(offer)
        assert order.status == "assigned"
        assert order.client.phone == "+1 555 0100"  # the contact comes with the accept
        for status in ("in_progress", "completed"):
            assert (await sdk.set_status(order.id, status)).status == status

        mine = [await asyncio.wait_for(anext(updates), 5) for _ in range(3)]
        assert [(u.order_id, u.status, u.source) for u in mine] == [
            (order.id, s, "socket") for s in ("assigned", "in_progress", "completed")]
        assert called == [offer]  # the callback saw the offer too, once
        assert sdk.last_event_id == 4  # new_assignment + three status updates
        assert sdk.open_offers == []
        await asyncio.sleep(0.5)
        assert await frames_in(server, "ping") >= pings + 2  # an application ping each 0.2 s
    assert states == [State.CLOSED] and sdk.state.value is State.CLOSED
    assert (await call(server, "GET", "/api/masters/me", master))["onShift"] is False
    assert await asyncio.wait_for(anext(offers, None), 1) is None  # iterators end at close


async def test_an_offer_made_before_connecting_comes_once_by_the_first_poll(
        shared_server: Server) -> None:
    server = shared_server
    appliance = unique_appliance()
    master = await register(server, "master", specializations=[appliance])
    customer = await register(server, "client")
    await call(server, "POST", "/api/masters/me/shift/start", master)
    placed = await place_order(server, customer, appliance)  # offered before any socket

    async with MasterClient(server.url, token=master.token,
                            options=Options(manage_shift=False)) as sdk:
        events = sdk.events()
        first = await asyncio.wait_for(anext(events), 5)
        assert isinstance(first, NewOffer) and first.source == "poll"
        assert first.offer.order_id == placed["id"]
        await sdk.poll_now()  # polling again finds nothing new
        await sdk.accept(first.offer)
        update = await asyncio.wait_for(anext(events), 5)
        assert update == StatusUpdate(placed["id"], "assigned", 2, "socket")
    # manage_shift=False leaves the shift alone
    assert (await call(server, "GET", "/api/masters/me", master))["onShift"] is True


async def test_wrong_credentials_and_wrong_roles_are_refused_at_start(
        shared_server: Server) -> None:
    server = shared_server
    customer = await register(server, "client")
    bad = MasterClient(server.url, email=customer.email, password="wrong password!")
    with pytest.raises(AuthError) as refused:
        await bad.start()
    assert refused.value.status == 401 and bad.state.value is State.CLOSED
    with pytest.raises(ClientError, match="is a client, not a master"):
        await MasterClient(server.url, token=customer.token).start()
