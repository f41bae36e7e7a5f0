"""The SDK and `dispatchwire watch` resuming after the server deleted what they missed (its
retention, one second here): told `recovered: false`, nothing replayed; the SDK reloads by
REST (the pending offer, the orders' statuses, then `on_reload`), `watch` says so; live
events go on after."""

import asyncio
import contextlib
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

from dispatchwire.client import (
    CustomerClient,
    MasterClient,
    NewOffer,
    OfferExpired,
    Options,
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

RETENTION = {"DISPATCHWIRE_EVENT_RETENTION_S": "1"}


def events_left(server: Server) -> int:
    path = server.database_url.split(":///", 1)[1]
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return int(db.execute("SELECT count(*) FROM events").fetchone()[0])


async def test_the_sdk_reloads_by_rest_what_the_server_no_longer_has(make_server: Any) -> None:
    server: Server = make_server(**RETENTION)
    appliance = unique_appliance()
    master = await register(server, "master", specializations=[appliance])
    customer = await register(server, "client")
    await call(server, "POST", "/api/masters/me/shift/start", master)
    done = await place_order(server, customer, appliance)
    [offer] = await call(server, "GET", "/api/assignments/pending", master)
    await call(server, "POST", f"/api/assignments/{offer['id']}/accept", master)
    for status in ("in_progress", "completed"):
        await call(server, "POST", f"/api/orders/{done['id']}/status", master,
                   json={"status": status})
    waiting = await place_order(server, customer, appliance)  # its offer is pending
    await eventually(lambda: events_left(server) == 0, within=10)  # all of them deleted

    frames: list[dict[str, Any]] = []
    reloads: list[str] = []
    sdk = MasterClient(server.url, email=master.email, password=master.password,
                       last_event_id=1, options=Options(manage_shift=False),
                       on_frame=frames.append)
    follower = CustomerClient(server.url, email=customer.email, password=customer.password,
                              last_event_id=0)
    sdk.on_reload(lambda: reloads.append("master"))
    follower.on_reload(lambda: reloads.append("customer"))
    async with sdk, follower:
        offered, updates = sdk.events(), follower.status_updates()
        reloaded = await asyncio.wait_for(anext(offered), 5)
        assert isinstance(reloaded, NewOffer) and reloaded.source == "poll"
        assert reloaded.offer.order_id == waiting["id"]
        his = await asyncio.wait_for(anext(offered), 5)  # his job's status, as it is now
        assert isinstance(his, StatusUpdate)
        assert (his.order_id, his.status, his.source) == (done["id"], "completed", "poll")
        update = await asyncio.wait_for(anext(updates), 5)
        assert (update.order_id, update.status, update.source) == (done["id"], "completed",
                                                                   "poll")
        await eventually(lambda: sorted(reloads) == ["customer", "master"])
        [auth] = [frame for frame in frames if frame["type"] == "auth_success"]
        assert auth["recovered"] is False
        assert [frame for frame in frames if "eventId" in frame] == []  # nothing replayed

        await follower.cancel(waiting["id"])  # live again: both hear it on the socket
        expired = await asyncio.wait_for(anext(offered), 5)
        assert isinstance(expired, OfferExpired) and expired.source == "socket"
        assert expired.assignment_id == reloaded.offer.id
        cancelled = await asyncio.wait_for(anext(updates), 5)
        assert isinstance(cancelled, StatusUpdate) and cancelled.source == "socket"
        assert (cancelled.order_id, cancelled.status) == (waiting["id"], "cancelled")
        assert sdk.open_offers == []
        assert sorted(reloads) == ["customer", "master"]  # once each


async def test_watch_says_the_events_were_deleted(make_server: Any, tmp_path: Path) -> None:
    server: Server = make_server(**RETENTION)
    appliance = unique_appliance()
    master = await register(server, "master", specializations=[appliance])
    customer = await register(server, "client")
    await call(server, "POST", "/api/masters/me/shift/start", master)
    order = await place_order(server, customer, appliance)  # event 1
    await eventually(lambda: events_left(server) == 0, within=10)
    out_path, err_path = tmp_path / "out.jsonl", tmp_path / "err.log"
    with out_path.open("w") as out, err_path.open("w") as err:
        watch = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dispatchwire", "watch", "--url", server.url, "--email",
            master.email, "--password", master.password, "--last-event-id", "0",
            stdout=out, stderr=err)

    def frames() -> list[dict[str, Any]]:
        return [json.loads(line) for line in out_path.read_text().splitlines()]

    try:
        await eventually(lambda: any(f["type"] == "auth_success" for f in frames()), within=10)
        await call(server, "POST", f"/api/orders/{order['id']}/status", customer,
                   json={"status": "cancelled"})  # event 2, live
        await eventually(lambda: [f.get("eventId") for f in frames() if "eventId" in f] == [2])
    finally:
        watch.terminate()
        await asyncio.wait_for(watch.wait(), 10)
    assert frames()[0]["type"] == "auth_success" and frames()[0]["recovered"] is False
    assert [f["type"] for f in frames() if "eventId" in f] == ["assignment_expired"]
    assert "were deleted on the server" in err_path.read_text()
