"""Delivery receipts over real sockets: the ack, the pong after an offer's frame, a link that
dies silently (a real TCP proxy that goes quiet), and masters who cannot be reached."""

import asyncio
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from dispatchwire.dispatch.models import Assignment
from dispatchwire.gateway import receipts as gateway_receipts
from dispatchwire.masters.models import Master
from tests.conftest import Api, Person, wait_for
from tests.gateway.proxy import TcpProxy
from tests.gateway.support import Live


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"undelivered_timeout_s": 2.0, "ws_ping_timeout_s": 1.0, "push_after_s": 60.0}


async def offer_row(api: Api, offer_id: int) -> Assignment:
    async with api.ctx.db.session() as session:
        return await session.get_one(Assignment, offer_id)


async def delivered_via(api: Api, offer_id: int) -> str | None:
    return (await offer_row(api, offer_id)).delivered_via


def deliveries() -> float:
    """Offers recorded delivered so far, however (the histogram's counts)."""
    return sum(REGISTRY.get_sample_value("dispatchwire_offer_delivery_seconds_count",
                                         {"via": via}) or 0.0
               for via in ("socket", "poll", "answer", "pong"))


async def test_a_seed_client_proves_receipt_with_the_pong_to_the_ping_after_the_offer(
        live: Live) -> None:
    api = live.api
    master = await api.master()
    client = await api.register("client")
    async with await live.master_socket(master) as ws:  # no `acks`: a seed client
        await api.order(client)
        offer = (await ws.recv())["assignment"]
        await wait_for(lambda: delivered_via(api, offer["id"]), within=5)
    row = await offer_row(api, offer["id"])
    assert row.delivered_via == "pong"
    assert row.delivered_at is not None
    assert (row.delivered_at - row.created_at).total_seconds() < 1.0  # the seed's target


async def test_a_client_that_acks_proves_receipt_with_its_ack_and_gets_no_ping(
        live: Live) -> None:
    api = live.api
    master = await api.master()
    client = await api.register("client")
    async with await live.master_socket(master, acks=True) as ws:
        await api.order(client)
        frame = await ws.recv()
        offer = frame["assignment"]
        await asyncio.sleep(0.5)  # a pong (the client library answers pings) would prove it
        assert await delivered_via(api, offer["id"]) is None
        await ws.send({"type": "ack", "eventId": frame["eventId"]})
        await wait_for(lambda: delivered_via(api, offer["id"]), within=5)
        await ws.send({"type": "ack", "eventId": frame["eventId"]})  # idempotent: no answer
        await ws.no_frame(0.3)
    assert await delivered_via(api, offer["id"]) == "socket"


@pytest.mark.parametrize("event_id", [0, -1, "7", 1.5, True, None, 10**6])
async def test_an_ack_that_is_not_a_positive_id_of_the_user_is_invalid(
        live: Live, event_id: Any) -> None:
    client = await live.api.register("client")
    async with live.socket() as ws:
        await ws.auth(client, acks=True)
        await ws.send({"type": "ack", "eventId": event_id})
        error = await ws.recv()
    assert error["type"] == "error" and error["code"] == "invalid_message"
    assert "eventId" in error["message"]


async def test_an_ack_on_another_socket_proves_an_offer_this_one_was_never_sent(
        live: Live) -> None:
    api = live.api
    master = await api.master()
    client = await api.register("client")
    first = await live.socket().connect()
    await first.auth(master, acks=True)
    await first.send({"type": "subscribe_assignments"})
    await first.recv()
    await api.order(client)
    frame = await first.recv()
    await first.close()  # the phone dropped this socket before it could ack
    async with live.socket() as second:
        await second.auth(master, acks=True, lastEventId=frame["eventId"])  # no replay
        await wait_for(lambda: delivered_via(api, frame["assignment"]["id"]), within=5)
    assert await delivered_via(api, frame["assignment"]["id"]) == "socket"


async def test_delivery_is_recorded_once_under_racing_ack_poll_and_answer(live: Live) -> None:
    api = live.api
    master = await api.master()
    client = await api.register("client")
    async with await live.master_socket(master, acks=True) as ws:
        before = deliveries()
        await api.order(client)
        frame = await ws.recv()
        offer = frame["assignment"]
        await asyncio.gather(
            ws.send({"type": "ack", "eventId": frame["eventId"]}),
            api.pending(master),
            api.call("POST", f"/api/assignments/{offer['id']}/accept", master))
        await wait_for(lambda: delivered_via(api, offer["id"]), within=5)
        await asyncio.sleep(0.3)  # any late second recording would show by now
    assert deliveries() == before + 1
    assert await delivered_via(api, offer["id"]) in ("socket", "poll", "answer")


@pytest.mark.parametrize("then", ["reject", "accept", "poll"])
async def test_an_ack_just_before_an_answer_or_a_poll_is_the_receipt_kept(
        live: Live, then: str) -> None:
    """Receipts wait up to 50 ms to be stored together; an answer or a poll right behind the
    ack stores it first, so the offer shows delivered by the app."""
    api = live.api
    master = await api.master()
    client = await api.register("client")
    async with await live.master_socket(master, acks=True) as ws:
        await api.order(client)
        frame = await ws.recv()
        offer = frame["assignment"]
        await ws.send({"type": "ack", "eventId": frame["eventId"]})
        await ws.no_frame(0.005)  # the server has read the ack; its receipt waits
        if then == "poll":
            [polled] = await api.pending(master)
            assert polled["deliveredVia"] == "socket"
        else:
            await api.call("POST", f"/api/assignments/{offer['id']}/{then}", master)
    assert await delivered_via(api, offer["id"]) == "socket"


async def test_receipts_stored_together_never_date_one_before_its_offer_was_sent(
        live: Live) -> None:
    """A batch of receipts is dated by the last of them: an offer sent after another offer's
    ack opened the batch still reads `sent`, then `delivered`, on its order's timeline."""
    api = live.api
    masters = [await api.master(), await api.master()]
    client, admin = await api.register("client"), await api.admin()
    sockets = [await live.master_socket(master, acks=True) for master in masters]
    try:
        frames = [asyncio.ensure_future(ws.recv()) for ws in sockets]
        await api.order(client)
        done, _ = await asyncio.wait(frames, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        first = frames.index(done.pop())
        await sockets[first].send({"type": "ack", "eventId": frames[first].result()["eventId"]})
        order = await api.order(client)  # the other master's, while the first ack waits
        other = 1 - first
        event_id = (await frames[other])["eventId"]
        await sockets[other].send({"type": "ack", "eventId": event_id})
        offer_id = await only_offer_of(api, order["id"])
        await wait_for(lambda: delivered_via(api, offer_id), within=5)
    finally:
        for ws in sockets:
            await ws.close()
    steps = await api.call("GET", f"/api/admin/orders/{order['id']}/timeline", admin)
    kinds = [step["kind"] for step in steps if step["kind"] in ("sent", "delivered")]
    assert kinds == ["sent", "delivered"]
    sent, delivered = (step["at"] for step in steps if step["kind"] in ("sent", "delivered"))
    assert delivered >= sent


async def test_frames_and_receipts_past_a_batchs_size_are_stored_in_several_batches(
        live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    """A window's `sent` steps and receipts are cut into transactions of RECORD_AT_MOST (here
    2, so that each frame and each ack may close one): every offer still reads `sent` (with its
    socket), then `delivered` via the socket, on its order's timeline."""
    monkeypatch.setattr(gateway_receipts, "RECORD_AT_MOST", 2)
    api = live.api
    masters = [await api.master() for _ in range(3)]
    client, admin = await api.register("client"), await api.admin()
    sockets = [await live.master_socket(master, acks=True) for master in masters]
    try:
        orders = [await api.order(client) for _ in range(3)]
        for ws in sockets:
            frame = await ws.recv()
            assert frame["type"] == "new_assignment"
            await ws.send({"type": "ack", "eventId": frame["eventId"]})
        offer_ids = [await only_offer_of(api, order["id"]) for order in orders]
        for offer_id in offer_ids:
            await wait_for(lambda offer_id=offer_id: delivered_via(api, offer_id), within=5)
            assert await delivered_via(api, offer_id) == "socket"
    finally:
        for ws in sockets:
            await ws.close()
    for order, offer_id in zip(orders, offer_ids, strict=True):
        steps = await api.call("GET", f"/api/admin/orders/{order['id']}/timeline", admin)
        sent, delivered = [step for step in steps if step["kind"] in ("sent", "delivered")]
        assert (sent["kind"], delivered["kind"]) == ("sent", "delivered")
        assert sent["assignmentId"] == delivered["assignmentId"] == offer_id
        assert isinstance(sent["detail"]["socket"], int)
        assert delivered["at"] >= sent["at"]


async def test_a_link_that_dies_silently_holds_the_order_only_until_the_undelivered_timeout(
        live: Live) -> None:
    api = live.api
    dark = await api.master()  # on shift first: idle longest, so asked first
    other = await api.master()
    client = await api.register("client")
    port = int(live.http_url.rsplit(":", 1)[1])
    async with TcpProxy.running(port) as proxy, \
            await live.master_socket(other) as other_ws:
        phone = live.socket()
        phone.url = f"ws://127.0.0.1:{proxy.port}/ws"
        await phone.connect()
        await phone.auth(dark)
        await phone.send({"type": "subscribe_assignments"})
        await phone.recv()
        proxy.black_hole()  # a lift: no FIN, no RST
        order = await api.order(client)
        [held] = await pending_of(api, dark)
        assert held["orderId"] == order["id"]
        moved = await other_ws.recv(timeout=10)  # the order moves on at the timeout
    first = await offer_row(api, held["id"])
    assert first.end_reason == "undelivered" and first.status == "expired"
    assert first.delivered_at is None
    assert moved["assignment"]["orderId"] == order["id"]
    waited = (await offer_row(api, moved["assignment"]["id"])).created_at - first.created_at
    assert 1.9 < waited.total_seconds() < 8  # the timeout (2 s), not the deadline (30 s)
    assert await unreachable(api, dark)


async def test_a_clean_close_before_the_offer_sends_it_to_a_live_master_at_once(
        live: Live) -> None:
    api = live.api
    gone = await api.master()  # idle longest: asked first were it live
    other = await api.master()
    client = await api.register("client")
    ws = await live.master_socket(gone)
    await ws.close()  # FIN
    async with await live.master_socket(other) as other_ws:
        await wait_for(lambda: _not_live(api, gone), within=5)
        order = await api.order(client)
        offer = await other_ws.recv()
    assert offer["assignment"]["orderId"] == order["id"]


async def test_a_master_who_could_not_be_reached_gets_nothing_until_he_is_seen_again(
        live: Live) -> None:
    api = live.api
    master = await api.master()  # no socket, no poll: a phone that is off
    client = await api.register("client")
    first = await api.order(client)
    offer_id = await only_offer_of(api, first["id"])
    await wait_for(lambda: _ended(api, offer_id), within=10)
    assert (await offer_row(api, offer_id)).end_reason == "undelivered"
    assert await unreachable(api, master)
    second = await api.order(client)
    await asyncio.sleep(0.5)
    assert await offers_of_order(api, second["id"]) == []  # not offered to him while away
    [back] = await api.pending(master)  # he polls: seen again, and what waits is his
    assert back["orderId"] == second["id"] and back["deliveredVia"] == "poll"
    assert not await unreachable(api, master)


@pytest.mark.parametrize("settings_overrides", [{
    "assignment_timeout_s": 0.5, "undelivered_timeout_s": 2.0, "ws_ping_timeout_s": 1.0,
    "push_after_s": 60.0}])
async def test_a_resume_replaying_an_offer_past_its_deadline_adds_no_sent_step(
        live: Live) -> None:
    api = live.api
    master = await api.master()
    client, admin = await api.register("client"), await api.admin()
    async with await live.master_socket(master, acks=True) as ws:
        first = await api.order(client)
        offer = await ws.recv()
        await ws.send({"type": "ack", "eventId": offer["eventId"]})
        assert (await ws.recv(timeout=5))["reason"] == "timeout"
    async with await live.socket().connect() as ws:
        await ws.auth(master, lastEventId=0, acks=True)
        replayed = [await ws.recv(), await ws.recv()]
        await ws.send({"type": "subscribe_assignments"})
        await ws.recv_until("subscribed_assignments")
        second = await api.order(client)
        live_offer = await ws.recv()
        await ws.send({"type": "ack", "eventId": live_offer["eventId"]})

        async def second_sent() -> bool:  # stored after anything the replay would have
            steps = await api.call("GET", f"/api/admin/orders/{second['id']}/timeline", admin)
            return "sent" in [step["kind"] for step in steps]

        await wait_for(second_sent, within=5)
    assert [frame["type"] for frame in replayed] == ["new_assignment", "assignment_expired"]
    assert live_offer["assignment"]["orderId"] == second["id"]
    steps = await api.call("GET", f"/api/admin/orders/{first['id']}/timeline", admin)
    kinds = [step["kind"] for step in steps]
    assert kinds.count("sent") == 1  # the live frame's; not the replay's, after `expired`
    assert kinds.index("sent") < kinds.index("expired")


async def pending_of(api: Api, master: Person) -> list[dict[str, Any]]:
    """The master's pending offers, read without polling (a poll would deliver them)."""
    async with api.ctx.db.session() as session:
        rows = await session.scalars(select(Assignment).where(
            Assignment.master_id == master.master_id, Assignment.status == "pending"))
        return [{"id": a.id, "orderId": a.order_id} for a in rows]


async def offers_of_order(api: Api, order_id: int) -> list[int]:
    async with api.ctx.db.session() as session:
        return list(await session.scalars(
            select(Assignment.id).where(Assignment.order_id == order_id)))


async def only_offer_of(api: Api, order_id: int) -> int:
    [offer_id] = await offers_of_order(api, order_id)
    return offer_id


async def _ended(api: Api, offer_id: int) -> bool:
    return (await offer_row(api, offer_id)).status != "pending"


async def unreachable(api: Api, master: Person) -> bool:
    async with api.ctx.db.session() as session:
        return (await session.get_one(Master, master.master_id)).unreachable_at is not None


async def _not_live(api: Api, master: Person) -> bool:
    return master.master_id not in api.ctx.presence.live_master_ids()
