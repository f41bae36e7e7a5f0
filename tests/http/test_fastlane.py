"""The fast lane for the two busiest routes answers exactly as the FastAPI routes do.

Every request below goes once through the app as it runs (fast lane in front) and once through
the same app with the fast lane taken out, on the same database; the answers must match:
status, content type, headers that matter, and body (ids and times aside).
"""

import json
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from dispatchwire.app import MAX_BODY_BYTES, create_app
from dispatchwire.http.fastlane import FastLane, lane_routes
from dispatchwire.orders import views as orders
from tests.conftest import Api, Person

VOLATILE = {"id", "createdAt", "updatedAt"}
ORDER = {"applianceType": "washing_machine", "problem": "does not spin", "address": "1 Main St"}


@pytest.fixture
async def plain(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """A client on the same app and database, without the fast lane."""
    app = create_app(api.ctx.settings, fast_lane=False)
    app.state.ctx = api.ctx
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as client:
        yield client


def normalized(response: httpx.Response, order_id: Any = None) -> tuple[Any, ...]:
    body: Any = response.content
    if response.headers.get("content-type") == "application/json":
        body = json.loads(response.content)
        if isinstance(body, dict):
            body = {key: "..." if key in VOLATILE else value for key, value in body.items()}
            if isinstance(body.get("detail"), str):  # "order 7 is cancelled and cannot ..."
                body["detail"] = body["detail"].replace(f"order {order_id} ", "order <id> ")
    return (response.status_code, response.headers.get("content-type"),
            response.headers.get("www-authenticate"), body)


async def both(api: Api, plain: httpx.AsyncClient, method: str, path: str,
               **kwargs: Any) -> tuple[Any, ...]:
    fast = await api.client.request(method, path, **kwargs)
    slow = await plain.request(method, path, **kwargs)
    assert normalized(fast) == normalized(slow), (method, path, kwargs)
    return normalized(fast)


def bearer(person: Person) -> dict[str, str]:
    return {"Authorization": f"Bearer {person.token}"}


async def test_placing_orders_answers_as_the_routes_do(api: Api,
                                                       plain: httpx.AsyncClient) -> None:
    client, master = await api.register("client"), await api.register("master")
    auth = bearer(client)
    cases: list[dict[str, Any]] = [
        {"json": ORDER, "headers": auth},
        {"json": {**ORDER, "lat": 52.5, "lon": 13.4}, "headers": auth},
        {"json": {**ORDER, "problem": "  trimmed  "}, "headers": auth},
        {"json": ORDER},  # no token
        {"json": ORDER, "headers": {"Authorization": "Bearer not-a-jwt"}},
        {"json": ORDER, "headers": {"Authorization": f"Basic {client.token}"}},
        {"json": ORDER, "headers": {"Authorization": "Bearer"}},
        {"json": ORDER, "headers": bearer(master)},  # a master may not place orders
        {"json": {**ORDER, "lat": True}, "headers": auth},  # strict: true is not a latitude
        {"json": {**ORDER, "lat": 91}, "headers": auth},
        {"json": {**ORDER, "problem": "a\x00b"}, "headers": auth},
        {"json": {**ORDER, "applianceType": "Washing Machine!"}, "headers": auth},
        {"json": {"applianceType": "washing_machine"}, "headers": auth},
        {"json": [ORDER], "headers": auth},
        {"content": b"", "headers": auth},
        {"content": b"{not json", "headers": {**auth, "Content-Type": "application/json"}},
        {"content": b'{"lat": NaN}', "headers": {**auth, "Content-Type": "application/json"}},
        {"content": json.dumps(ORDER).encode(), "headers": auth},  # no content type
        {"content": json.dumps(ORDER).encode(),
         "headers": {**auth, "Content-Type": "application/vnd.dispatch+json; charset=utf-8"}},
        {"content": json.dumps(ORDER).encode(), "headers": {**auth, "Content-Type": "text/plain"}},
    ]
    statuses = [(await both(api, plain, "POST", "/api/orders", **case))[0] for case in cases]
    assert statuses == [201, 201, 201, 401, 401, 401, 401, 403, 422, 422, 422, 422, 422, 422,
                        422, 422, 422, 422, 201, 422]


async def test_moving_orders_answers_as_the_routes_do(api: Api,
                                                      plain: httpx.AsyncClient) -> None:
    client, other, admin = (await api.register("client"), await api.register("client"),
                            await api.admin())
    fast_order = await api.order(client)
    slow_order = (await plain.post("/api/orders", json=ORDER, headers=bearer(client))).json()

    async def move(who: Person | None, status: Any, order_id: Any = None,
                   **kwargs: Any) -> int:
        headers = bearer(who) if who else {}
        fast = await api.client.post(f"/api/orders/{order_id or fast_order['id']}/status",
                                     json={"status": status}, headers=headers, **kwargs)
        slow = await plain.post(f"/api/orders/{order_id or slow_order['id']}/status",
                                json={"status": status}, headers=headers, **kwargs)
        assert normalized(fast, fast_order["id"]) == normalized(slow, slow_order["id"]), (
            who, status, order_id)
        return fast.status_code

    assert await move(other, "cancelled") == 404  # not theirs: as if absent
    assert await move(None, "cancelled") == 401
    assert await move(client, "done") == 422
    assert await move(client, None) == 422
    assert await move(client, "completed") == 409  # a new order cannot be completed
    assert await move(client, "cancelled", order_id=10**6) == 404
    assert await move(client, "cancelled", order_id=2**31) == 422  # beyond a 32-bit id
    assert await move(client, "cancelled", order_id="0") == 422
    assert await move(client, "cancelled", order_id="x") == 422
    assert await move(client, "cancelled") == 200
    assert await move(client, "cancelled") == 409  # already cancelled
    assert await move(admin, "in_progress") == 409


async def test_oversized_bodies_are_refused_with_413_on_every_route(
        api: Api, plain: httpx.AsyncClient) -> None:
    client = await api.register("client")
    huge = json.dumps({**ORDER, "problem": "x" * MAX_BODY_BYTES})
    for path in ("/api/orders", "/api/orders/1/status", "/api/auth/login"):
        status, *_ = await both(api, plain, "POST", path, content=huge,
                                headers={**bearer(client), "Content-Type": "application/json"})
        assert status == 413, path


async def through_the_lane_alone(api: Api, client: Person, path: str,
                                 *messages: dict[str, Any]) -> list[dict[str, Any]]:
    """What the fast lane sends for a request, with nothing behind it to pass it on to."""
    lane = FastLane(_never_called, routes=lane_routes(orders.router, orders.create_order,
                                                         orders.change_status),
                    max_body_bytes=MAX_BODY_BYTES)
    length = sum(len(message.get("body", b"")) for message in messages) or 100
    sent: list[dict[str, Any]] = []
    incoming = iter(messages)

    async def receive() -> dict[str, Any]:
        return next(incoming)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "app": SimpleNamespace(
        state=SimpleNamespace(ctx=api.ctx)), "headers": [
        (b"authorization", f"Bearer {client.token}".encode()),
        (b"content-type", b"application/json"), (b"content-length", str(length).encode())]}
    await lane(scope, receive, send)
    return sent


async def test_the_lane_serves_a_valid_order_and_its_cancel_itself(api: Api) -> None:
    client = await api.register("client")
    sent = await through_the_lane_alone(
        api, client, "/api/orders",
        {"type": "http.request", "body": json.dumps(ORDER)[:20].encode(), "more_body": True},
        {"type": "http.request", "body": json.dumps(ORDER)[20:].encode()})
    assert sent[0]["status"] == 201
    order = json.loads(sent[1]["body"])
    assert order["status"] == "new" and order["clientId"] == client.id
    sent = await through_the_lane_alone(
        api, client, f"/api/orders/{order['id']}/status",
        {"type": "http.request", "body": b'{"status": "cancelled"}'})
    assert sent[0]["status"] == 200 and json.loads(sent[1]["body"])["status"] == "cancelled"


async def test_a_client_gone_before_its_body_is_left_unanswered(api: Api) -> None:
    client = await api.register("client")
    sent = await through_the_lane_alone(api, client, "/api/orders",
                                        {"type": "http.disconnect"})
    assert sent == []
    assert await api.call("GET", "/api/orders", client) == []


async def _never_called(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("the fast lane passed on a request it had taken")


def test_a_route_that_takes_more_than_the_lane_passes_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="/api/orders"):
        FastLane(_never_called, routes=lane_routes(orders.router, orders.list_orders),
                 max_body_bytes=MAX_BODY_BYTES)


async def test_a_bug_behind_the_lane_is_a_json_500_without_its_trace(api: Api) -> None:
    client = await api.register("client")
    await api.master()  # on shift: placing an order offers it, and stores the offer's event

    async def broken(*_: Any) -> None:
        raise RuntimeError("a secret in the trace")

    api.ctx.outbox.store = broken  # type: ignore[assignment]
    for fast_lane in (True, False):
        app = create_app(api.ctx.settings, fast_lane=fast_lane)
        app.state.ctx = api.ctx
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            response = await http.post("/api/orders", json=ORDER, headers=bearer(client))
        assert response.status_code == 500, (fast_lane, response.text)
        assert response.json() == {"detail": "internal server error"}, fast_lane
        assert response.headers["content-type"] == "application/json"
    assert await api.call("GET", "/api/orders", client) == []  # rolled back, both times
