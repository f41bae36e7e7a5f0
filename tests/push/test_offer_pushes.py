"""Pushes as the server decides them, end to end: a real server, real sockets, and a local Web
Push service that checks the VAPID signature and decrypts every push as a browser would."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from dispatchwire.dispatch.models import Assignment
from dispatchwire.push.models import PushSubscription
from tests.conftest import Api, Person, wait_for
from tests.gateway.support import Live
from tests.push.support import Answer, WebPushService


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"push_after_s": 1.0, "undelivered_timeout_s": 4.0, "ws_ping_timeout_s": 2.0,
            "push_allowed_hosts": "localhost"}


@pytest.fixture
async def service(live: Live) -> AsyncIterator[WebPushService]:
    async with WebPushService(live.api.ctx.pusher.vapid_public_key).running() as running:
        yield running


async def subscribe(api: Api, who: Person, service: WebPushService,
                    answer: Answer | None = None, expect: int = 201) -> dict[str, Any]:
    device = service.subscribe(answer)
    return await api.call("POST", "/api/push/subscriptions", who, expect=expect, json={
        "kind": "webpush", "endpoint": device.endpoint,
        "keys": {"p256dh": device.p256dh, "auth": device.auth}})


def pushed(service: WebPushService) -> list[dict[str, Any]]:
    return [json.loads(hit.plaintext) for hit in service.hits]


async def test_a_master_whose_socket_acks_is_never_pushed(
        live: Live, service: WebPushService) -> None:
    api = live.api
    master = await api.master()
    client = await api.register("client")
    await subscribe(api, master, service)
    async with await live.master_socket(master, acks=True) as ws:
        await api.order(client)
        frame = await ws.recv()
        await ws.send({"type": "ack", "eventId": frame["eventId"]})
        await asyncio.sleep(2.0)  # twice the push delay
    assert service.hits == []


async def test_an_offer_never_pushed_ends_without_a_push(
        live: Live, service: WebPushService) -> None:
    """Delivered on the socket, then withdrawn: neither the offer nor its end is pushed.

    SQLite 3.40 answered `pushed_at IS NOT NULL` in an UPDATE's RETURNING with 1 for a NULL,
    which once made every withdrawn offer push the end of an offer no phone had shown.
    """
    api = live.api
    master = await api.master()
    client = await api.register("client")
    await subscribe(api, master, service)
    async with await live.master_socket(master, acks=True) as ws:
        order = await api.order(client)
        frame = await ws.recv()
        await ws.send({"type": "ack", "eventId": frame["eventId"]})
        await wait_for(lambda: _delivered(live, frame["assignment"]["id"]), within=5)
        await api.call("POST", f"/api/orders/{order['id']}/status", client,
                       json={"status": "cancelled"})
        assert (await ws.recv())["type"] == "assignment_expired"
        await asyncio.sleep(2.0)  # twice the push delay
    assert service.hits == []
    async with live.api.ctx.db.read() as sql:
        assert await sql.rows("SELECT kind FROM push_jobs") == []


async def _delivered(live: Live, assignment_id: int) -> bool:
    async with live.api.ctx.db.read() as sql:
        return await sql.scalar("SELECT delivered_at FROM assignments WHERE id = :id",
                                {"id": assignment_id}) is not None


async def test_a_seed_client_on_a_healthy_link_is_never_pushed(
        live: Live, service: WebPushService) -> None:
    api = live.api
    master = await api.master()
    client = await api.register("client")
    await subscribe(api, master, service)
    async with await live.master_socket(master) as ws:  # no acks: its pong proves receipt
        await api.order(client)
        await ws.recv()
        await asyncio.sleep(2.0)
    assert service.hits == []


async def test_a_socket_that_promised_acks_and_never_acks_gets_one_push_of_the_frame(
        live: Live, service: WebPushService) -> None:
    api = live.api
    master = await api.master()
    client = await api.register("client")
    await subscribe(api, master, service)
    async with await live.master_socket(master, acks=True) as ws:
        await api.order(client)
        frame = await ws.recv()
        await wait_for(lambda: _hits(service), within=5)
        await asyncio.sleep(1.0)  # no second push of it
    [push] = pushed(service)
    assert push == frame  # exactly the socket's frame
    [hit] = service.hits
    assert hit.headers["urgency"] == "high"
    assert hit.headers["topic"] == f"assignment-{frame['assignment']['id']}"
    assert 20 <= int(hit.headers["ttl"]) <= 30  # whole seconds left of the 30 s offer
    assert hit.claims["sub"].startswith("mailto:")


async def test_an_unreachable_phone_is_pushed_then_its_offer_moves_on_and_the_notice_goes(
        live: Live, service: WebPushService) -> None:
    api = live.api
    away = await api.master()  # idle longest: asked first (no one has a socket)
    other = await api.master()
    client = await api.register("client")
    await subscribe(api, away, service)
    order = await api.order(client)
    await wait_for(lambda: _hits(service, 2), within=10)  # the offer, then its end (4 s)
    offer_push, end_push = pushed(service)
    assert offer_push["type"] == "new_assignment"
    assert offer_push["assignment"]["orderId"] == order["id"]
    assert end_push == {"type": "assignment_expired", "eventId": offer_push["eventId"] + 1,
                        "assignmentId": offer_push["assignment"]["id"],
                        "reason": "undelivered"}
    topics = {hit.headers["topic"] for hit in service.hits}
    assert topics == {f"assignment-{offer_push['assignment']['id']}"}
    first, moved = await _offers_of(api, order["id"])
    assert (first.master_id, first.end_reason) == (away.master_id, "undelivered")
    assert (moved.master_id, moved.status) == (other.master_id, "pending")


async def test_a_push_service_that_says_gone_loses_the_subscription(
        live: Live, service: WebPushService) -> None:
    api = live.api
    master = await api.master()
    client = await api.register("client")
    made = await subscribe(api, master, service, Answer(status=410))
    await api.order(client)
    await wait_for(lambda: _no_subscription(api, made["id"]), within=6)
    assert await api.call("GET", "/api/push/subscriptions", master) == []
    assert len(service.hits) == 1


async def test_a_push_service_that_is_down_for_a_moment_is_tried_again(
        live: Live, service: WebPushService) -> None:
    api = live.api
    master = await api.master()
    client = await api.register("client")
    device = service.subscribe(Answer(status=503))
    await api.call("POST", "/api/push/subscriptions", master, expect=201, json={
        "kind": "webpush", "endpoint": device.endpoint,
        "keys": {"p256dh": device.p256dh, "auth": device.auth}})
    await api.order(client)
    await wait_for(lambda: _hits(service), within=5)
    service._answers[device.endpoint.rsplit("/", 1)[1]] = Answer(status=201)  # back up
    await wait_for(lambda: _hits(service, 2), within=5)
    first, second = pushed(service)
    assert first == second and first["type"] == "new_assignment"

    async def succeeded() -> bool:  # recorded once the service's answer is read
        [row] = await api.call("GET", "/api/push/subscriptions", master)
        return row["lastSuccessAt"] is not None and row["lastError"] is None

    await wait_for(succeeded, within=5)


async def test_a_client_without_a_socket_is_pushed_status_changes_and_one_with_is_not(
        live: Live, service: WebPushService) -> None:
    api = live.api
    master = await api.master()
    away, here = await api.register("client"), await api.register("client")
    for client in (away, here):
        await subscribe(api, client, service)
    async with live.socket() as ws:
        await ws.auth(here)
        await asyncio.sleep(0.1)
        for client in (away, here):
            order = await api.order(client)
            [offer] = [o for o in await api.pending(master) if o["orderId"] == order["id"]]
            await api.call("POST", f"/api/assignments/{offer['id']}/accept", master)
            await api.call("POST", f"/api/orders/{order['id']}/status", master,
                           json={"status": "in_progress"})
            await api.call("POST", f"/api/orders/{order['id']}/status", master,
                           json={"status": "completed"})
        await wait_for(lambda: _hits(service, 3), within=5)
        await asyncio.sleep(0.5)
    statuses = [push["status"] for push in pushed(service)]
    assert statuses == ["assigned", "in_progress", "completed"]  # `away`'s only, in order
    assert all(hit.headers["urgency"] == "normal" and hit.headers["ttl"] == "3600"
               for hit in service.hits)
    order_id = pushed(service)[0]["orderId"]
    assert {hit.headers["topic"] for hit in service.hits} == {f"order-{order_id}"}


async def test_subscriptions_are_the_callers_own(live: Live, service: WebPushService) -> None:
    api = live.api
    alice, bob = await api.register("client"), await api.register("client")
    key = await api.call("GET", "/api/push/vapid-public-key", alice)
    assert key == {"publicKey": api.ctx.pusher.vapid_public_key}
    device = service.subscribe()
    body = {"kind": "webpush", "endpoint": device.endpoint,
            "keys": {"p256dh": device.p256dh, "auth": device.auth}}
    made = await api.call("POST", "/api/push/subscriptions", alice, expect=201, json=body)
    again = await api.call("POST", "/api/push/subscriptions", alice, expect=200, json=body)
    assert again == made
    await api.call("DELETE", f"/api/push/subscriptions/{made['id']}", bob, expect=404)
    moved = await api.call("POST", "/api/push/subscriptions", bob, expect=201, json=body)
    assert moved["id"] == made["id"]  # the device changed hands
    assert await api.call("GET", "/api/push/subscriptions", alice) == []
    await api.call("DELETE", f"/api/push/subscriptions/{made['id']}", bob, expect=204)
    assert await api.call("GET", "/api/push/subscriptions", bob) == []


async def test_a_user_keeps_ten_devices_the_oldest_going_first(
        live: Live, service: WebPushService) -> None:
    api = live.api
    client = await api.register("client")
    made = [await subscribe(api, client, service) for _ in range(12)]
    kept = await api.call("GET", "/api/push/subscriptions", client)
    assert [row["id"] for row in kept] == [row["id"] for row in made[2:]]


@pytest.mark.parametrize("endpoint", [
    "https://push.example.com/x", "http://fcm.googleapis.com/x", "ftp://localhost/x",
    "https://localhost.attacker.net/x", "http://127.0.0.2:9/x"])
async def test_an_endpoint_outside_the_allow_list_is_refused(
        live: Live, service: WebPushService, endpoint: str) -> None:
    api = live.api
    client = await api.register("client")
    device = service.subscribe()
    refused = await api.call("POST", "/api/push/subscriptions", client, expect=422, json={
        "kind": "webpush", "endpoint": endpoint,
        "keys": {"p256dh": device.p256dh, "auth": device.auth}})
    assert any(item["loc"][-1] == "endpoint" for item in refused["detail"])


async def _hits(service: WebPushService, count: int = 1) -> bool:
    return len(service.hits) >= count


async def _no_subscription(api: Api, subscription_id: int) -> bool:
    async with api.ctx.db.session() as session:
        return await session.get(PushSubscription, subscription_id) is None


async def _offers_of(api: Api, order_id: int) -> list[Assignment]:
    async with api.ctx.db.session() as session:
        return list(await session.scalars(select(Assignment).where(
            Assignment.order_id == order_id).order_by(Assignment.id)))


async def test_the_timeline_tells_each_push_and_how_it_went(
        live: Live, service: WebPushService) -> None:
    api = live.api
    admin = await api.admin()
    away = await api.master()
    await api.master()
    client = await api.register("client")
    await subscribe(api, away, service)
    order = await api.order(client)
    path = f"/api/admin/orders/{order['id']}/timeline"

    async def both_pushes() -> Any:
        steps = await api.call("GET", path, admin)
        return steps if sum(s["kind"] == "pushed" for s in steps) == 2 else None

    steps = await wait_for(both_pushes, within=10)
    pushes = [(s["masterId"], s["detail"]) for s in steps if s["kind"] == "pushed"]
    offer_id = next(s["assignmentId"] for s in steps if s["kind"] == "offered")
    assert pushes == [(away.master_id, {"kind": "webpush", "result": "ok", "push": "offer"}),
                      (away.master_id, {"kind": "webpush", "result": "ok",
                                        "push": "offer_end"})]
    assert all(s["assignmentId"] == offer_id for s in steps if s["kind"] == "pushed")
    kinds = [s["kind"] for s in steps]
    assert kinds.index("pushed") < kinds.index("expired") < len(kinds) - 1 - \
        kinds[::-1].index("pushed")
    assert next(s for s in steps if s["kind"] == "expired")["detail"] == {
        "reason": "undelivered"}
