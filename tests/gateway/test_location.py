"""Live location over real sockets: only a master on a job shares his position, only his
client gets it (`master_location`, never stored), at most one an interval is kept, and
`master.location` in the order shows the newest to the client and admins while the job is on.
"""

import asyncio
import logging
from typing import Any

import pytest

from tests.conftest import Api, Person
from tests.dispatch.support import on_a_job
from tests.gateway.support import Live, WsClient

INTERVAL_S = 1.0


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"location_min_interval_s": INTERVAL_S}


async def authed(live: Live, who: Person) -> WsClient:
    ws = await live.socket().connect()
    await ws.auth(who)
    return ws


async def share(ws: WsClient, lat: float, lon: float) -> None:
    """Send a position and wait until the socket has handled it (its pong comes after)."""
    await ws.send({"type": "location", "lat": lat, "lon": lon})
    await ws.send({"type": "ping"})
    while (frame := await ws.recv())["type"] != "pong":  # no answer: taken or dropped
        assert frame["type"] == "order_status_update", frame


async def refused(ws: WsClient, message: dict[str, Any], code: str) -> dict[str, Any]:
    await ws.send(message)
    while (frame := await ws.recv())["type"] == "order_status_update":
        pass
    assert (frame["type"], frame.get("code")) == ("error", code), frame
    return frame


async def location_in_order(api: Api, who: Person, order: dict[str, Any]) -> Any:
    master = (await api.call("GET", f"/api/orders/{order['id']}", who))["master"]
    return master["location"]


async def test_the_client_gets_his_masters_position_and_no_one_else_does(
        live_any: Live) -> None:
    api = live_any.api
    master, client, order = await on_a_job(api)
    admin = await api.admin()
    other_master, other_client, _ = await on_a_job(api)
    assert await location_in_order(api, client, order) is None  # nothing shared yet
    sockets = {name: await authed(live_any, who) for name, who in [
        ("master", master), ("client", client), ("client2", client), ("admin", admin),
        ("other_master", other_master), ("other_client", other_client)]}

    await share(sockets["master"], 55.7539, 37.6208)
    for name in ("client", "client2"):  # every socket of the client
        frame = await sockets[name].recv()
        assert {k: v for k, v in frame.items() if k != "at"} == {
            "type": "master_location", "orderId": order["id"], "lat": 55.7539, "lon": 37.6208}
        assert "eventId" not in frame
    await asyncio.gather(*(sockets[name].no_frame(0.3) for name in (
        "master", "admin", "other_master", "other_client")))

    expected = {"lat": 55.7539, "lon": 37.6208, "at": frame["at"]}
    assert await location_in_order(api, client, order) == expected
    assert await location_in_order(api, admin, order) == expected
    assert await location_in_order(api, master, order) is None  # his own: not shown back
    listed = await api.call("GET", "/api/orders", client)
    assert [o["master"]["location"] for o in listed if o["id"] == order["id"]] == [expected]
    await api.call("GET", f"/api/orders/{order['id']}", other_client, expect=404)
    await api.call("GET", f"/api/orders/{order['id']}", other_master, expect=404)
    for ws in sockets.values():
        await ws.close()


async def test_no_one_but_a_master_on_a_job_may_share(live: Live) -> None:
    api = live.api
    master = await api.master()
    client = await api.register("client")
    admin = await api.admin()
    order = await api.order(client)
    [offer] = await api.pending(master)  # offered, not accepted yet
    position = {"type": "location", "lat": 1.5, "lon": 2.5}
    master_ws, client_ws = await authed(live, master), await authed(live, client)
    frame = await refused(master_ws, position, "forbidden")
    assert "on a job" in frame["message"]
    await refused(client_ws, position, "forbidden")
    async with await authed(live, admin) as admin_ws:
        await refused(admin_ws, position, "forbidden")
    async with live.socket() as anonymous:
        await refused(anonymous, position, "not_authenticated")
    idle = await api.master(on_shift=False)
    async with await authed(live, idle) as idle_ws:
        await refused(idle_ws, position, "forbidden")

    await api.call("POST", f"/api/assignments/{offer['id']}/accept", master)
    await share(master_ws, 1.5, 2.5)
    assert (await client_ws.recv_until("master_location"))["orderId"] == order["id"]
    await master_ws.close()
    await client_ws.close()
    assert order["id"] == offer["orderId"]


@pytest.mark.parametrize("values", [
    {"lat": 90.0001, "lon": 0}, {"lat": -91, "lon": 0}, {"lat": 0, "lon": 180.5},
    {"lat": 0, "lon": -181}, {"lat": "55.7", "lon": 37.6}, {"lat": True, "lon": 37.6},
    {"lat": None, "lon": 37.6}, {"lon": 37.6}, {"lat": 55.7}, {"lat": [1], "lon": 2},
    {"lat": 10**18, "lon": 0}, {"lat": 0, "lon": -1e10},
])
async def test_out_of_range_values_are_invalid_messages(live: Live, values: dict[str, Any]
                                                        ) -> None:
    master, _client, _order = await on_a_job(live.api)
    async with await authed(live, master) as ws:
        frame = await refused(ws, {"type": "location", **values}, "invalid_message")
        assert "`lat`" in frame["message"] or "`lon`" in frame["message"]
        await share(ws, 90, -180)  # the edges are fine, and the socket goes on


async def test_above_the_rate_positions_are_dropped_silently_and_the_first_is_kept(
        live_any: Live) -> None:
    api = live_any.api
    master, client, order = await on_a_job(api)
    master_ws, client_ws = await authed(live_any, master), await authed(live_any, client)
    started = asyncio.get_running_loop().time()
    await share(master_ws, 10.0, 20.0)
    first = await client_ws.recv()
    await share(master_ws, 10.5, 20.5)  # inside the interval: dropped, without an error
    await share(master_ws, 11.0, 21.0)
    assert asyncio.get_running_loop().time() - started < INTERVAL_S / 2
    await client_ws.no_frame(0.2)
    kept = await location_in_order(api, client, order)
    assert (kept["lat"], kept["lon"], kept["at"]) == (10.0, 20.0, first["at"])

    await asyncio.sleep(max(0.0, started + INTERVAL_S - asyncio.get_running_loop().time()))
    await asyncio.sleep(0.05)
    await share(master_ws, 12.0, 22.0)  # a new interval: the first of it goes out at once
    second = await client_ws.recv()
    assert (second["lat"], second["lon"]) == (12.0, 22.0)
    assert second["at"] > first["at"]
    kept = await location_in_order(api, client, order)
    assert (kept["lat"], kept["lon"], kept["at"]) == (12.0, 22.0, second["at"])
    await master_ws.close()
    await client_ws.close()


async def test_after_the_job_sharing_is_forbidden_and_the_position_hidden(live_any: Live
                                                                          ) -> None:
    api = live_any.api
    master, client, order = await on_a_job(api)
    admin = await api.admin()
    master_ws = await authed(live_any, master)
    await share(master_ws, 48.85, 2.35)
    assert await location_in_order(api, client, order) is not None
    for status in ("in_progress", "completed"):
        changed = await api.call("POST", f"/api/orders/{order['id']}/status", master,
                                 json={"status": status})
        assert changed["master"]["location"] is None  # the master's own answer: never
    await refused(master_ws, {"type": "location", "lat": 48.86, "lon": 2.36}, "forbidden")
    assert await location_in_order(api, client, order) is None
    assert await location_in_order(api, admin, order) is None

    # His next job's client never sees where he was before accepting it.
    client2 = await api.register("client")
    order2 = await api.order(client2)
    [offer] = await api.pending(master)
    await api.call("POST", f"/api/assignments/{offer['id']}/accept", master)
    assert offer["orderId"] == order2["id"]
    assert await location_in_order(api, client2, order2) is None
    await share(master_ws, 48.87, 2.37)  # a new job: no interval to wait for
    assert (await location_in_order(api, client2, order2))["lat"] == 48.87
    assert await location_in_order(api, client, order) is None
    await master_ws.close()


async def test_a_cancelled_job_hides_the_position_from_the_client_and_admins(live: Live
                                                                             ) -> None:
    api = live.api
    master, client, order = await on_a_job(api)
    async with await authed(live, master) as master_ws:
        await share(master_ws, 1.0, 1.0)
        cancelled = await api.call("POST", f"/api/orders/{order['id']}/status", client,
                                   json={"status": "cancelled"})
        assert cancelled["master"]["location"] is None
        assert await location_in_order(api, client, order) is None
        await refused(master_ws, {"type": "location", "lat": 1.0, "lon": 1.0}, "forbidden")


async def test_positions_refresh_the_masters_own_coordinates_at_most_once_a_minute(
        live: Live) -> None:
    api = live.api
    master, client, _order = await on_a_job(api)
    async with await authed(live, master) as master_ws, await authed(live, client) as client_ws:
        await share(master_ws, 40.0, -3.0)
        await client_ws.recv()
        profile = await api.call("GET", "/api/masters/me", master)
        assert (profile["lat"], profile["lon"]) == (40.0, -3.0)  # dispatch's "nearest" uses it
        await asyncio.sleep(INTERVAL_S + 0.05)
        await share(master_ws, 41.0, -4.0)
        assert (await client_ws.recv())["lat"] == 41.0  # kept and sent...
        profile = await api.call("GET", "/api/masters/me", master)
        assert (profile["lat"], profile["lon"]) == (40.0, -3.0)  # ...not written to him yet


async def test_positions_are_never_logged_above_debug(live: Live,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    api = live.api
    master, client, _order = await on_a_job(api)
    caplog.set_level(logging.INFO)
    async with await authed(live, master) as master_ws, await authed(live, client) as client_ws:
        await share(master_ws, 51.123457, -0.765432)
        await client_ws.recv()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "51.123457" not in logged and "0.765432" not in logged
    assert "socket" in logged  # the capture works: the sockets' lines are there


@pytest.mark.parametrize("settings_overrides", [
    {"location_min_interval_s": INTERVAL_S, "ws_rate_per_s": 1.0, "ws_rate_burst": 3}])
async def test_the_sockets_rate_limit_still_applies(live: Live) -> None:
    master, _client, _order = await on_a_job(live.api)
    async with await authed(live, master) as ws:
        for n in range(3):  # the auth took one of the burst of 3
            await ws.send({"type": "location", "lat": n, "lon": n})
        frame = await ws.recv()
        assert (frame["type"], frame["code"]) == ("error", "rate_limited")
