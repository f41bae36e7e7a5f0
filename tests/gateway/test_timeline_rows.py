"""Steps kept in the rows they record (`orders.timeline`, migration 0008): an order's `placed`
step is its own row, an `offered` or `expired` step its offer's, and an offer's `sent` rides in
its `delivered` step when both are stored together. The timeline reads the same as with a row
each; these tests look at the rows too, on SQLite and PostgreSQL."""

import json
from typing import Any

import pytest
from sqlalchemy import text

from dispatchwire.gateway import receipts as gateway_receipts
from tests.conftest import Api, Person, wait_for
from tests.gateway.support import Live


@pytest.fixture
def one_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Frames and acks stored in one transaction however slow the machine: a window of 2 s."""
    monkeypatch.setattr(gateway_receipts, "RECORD_EVERY_S", 2.0)


async def stored_steps(api: Api, order_id: int) -> list[tuple[str, dict[str, Any]]]:
    """The order's rows in `order_steps`, as stored: (kind, detail)."""
    async with api.ctx.db.session() as session:
        rows = (await session.execute(text(
            "SELECT kind, detail FROM order_steps WHERE order_id = :id ORDER BY id"),
            {"id": order_id})).all()
    return [(kind, json.loads(detail) if isinstance(detail, str) else detail)
            for kind, detail in rows]


async def timeline(api: Api, admin: Person, order_id: int) -> list[dict[str, Any]]:
    return await api.call("GET", f"/api/admin/orders/{order_id}/timeline", admin)


async def test_an_acked_offers_sent_step_rides_in_its_delivered_row(
        live_any: Live, one_window: None) -> None:
    api = live_any.api
    master = await api.master()
    client, admin = await api.register("client"), await api.admin()
    async with await live_any.master_socket(master, acks=True) as ws:
        order = await api.order(client)
        frame = await ws.recv()
        await ws.send({"type": "ack", "eventId": frame["eventId"]})
        offer_id = frame["assignment"]["id"]
        await wait_for(lambda: _has_kind(api, order["id"], "delivered"), within=5)
    stored = await stored_steps(api, order["id"])
    assert [kind for kind, _ in stored] == ["delivered"]
    assert set(stored[0][1]) == {"via", "sent"}
    steps = await timeline(api, admin, order["id"])
    assert [step["kind"] for step in steps] == ["placed", "offered", "sent", "delivered"]
    placed, offered, sent, delivered = steps
    assert offered["assignmentId"] == offer_id and offered["masterId"] == master.master_id
    assert offered["detail"]["how"] == "ranked" and offered["detail"]["slot"] == 0
    assert placed["detail"] == {"by": client.id, "applianceType": "washing_machine"}
    assert placed["at"] == order["createdAt"]
    assert "assignmentId" not in placed and "masterId" not in placed
    assert sent["assignmentId"] == delivered["assignmentId"] == offer_id
    assert sent["masterId"] == delivered["masterId"] == master.master_id
    assert set(sent["detail"]) == {"socket"} and isinstance(sent["detail"]["socket"], int)
    assert delivered["detail"] == {"via": "socket"}
    assert placed["at"] <= sent["at"] <= delivered["at"]


async def test_a_frame_whose_offer_ended_before_any_receipt_keeps_a_row_of_its_own(
        live: Live) -> None:
    """The dispatch benchmark's path: the client cancels as soon as the offer is out."""
    api = live.api
    master = await api.master()
    client, admin = await api.register("client"), await api.admin()
    async with await live.master_socket(master, acks=True) as ws:
        order = await api.order(client)
        assert (await ws.recv())["type"] == "new_assignment"  # and no ack
        await api.call("POST", f"/api/orders/{order['id']}/status", client,
                       json={"status": "cancelled"})
        await wait_for(lambda: _has_kind(api, order["id"], "sent"), within=5)
    kinds = [step["kind"] for step in await timeline(api, admin, order["id"])]
    assert kinds == ["placed", "offered", "sent", "status", "expired"]
    assert [kind for kind, _ in await stored_steps(api, order["id"])] == ["status", "sent"]


async def test_two_sockets_frames_one_carried_one_a_row_both_read(
        live: Live, one_window: None) -> None:
    api = live.api
    master = await api.master()
    client, admin = await api.register("client"), await api.admin()
    sockets = [await live.master_socket(master, acks=True) for _ in range(2)]
    try:
        order = await api.order(client)
        frames = [await ws.recv() for ws in sockets]
        for ws, frame in zip(sockets, frames, strict=True):
            await ws.send({"type": "ack", "eventId": frame["eventId"]})
        await wait_for(lambda: _has_kind(api, order["id"], "delivered"), within=5)
    finally:
        for ws in sockets:
            await ws.close()
    stored = [kind for kind, _ in await stored_steps(api, order["id"])]
    assert (stored.count("sent"), stored.count("delivered")) == (1, 1)
    steps = await timeline(api, admin, order["id"])
    sent = [step for step in steps if step["kind"] == "sent"]
    assert len({step["detail"]["socket"] for step in sent}) == 2
    assert [step["kind"] for step in steps][-1] == "delivered"
    assert [step["at"] for step in steps] == sorted(step["at"] for step in steps)


async def test_rows_stored_before_are_read_as_they_are(live: Live) -> None:
    """Orders and offers from before 0008 kept rows for `placed` and `offered` (and an offer
    of theirs has no `why`)."""
    api = live.api
    client, admin = await api.register("client"), await api.admin()
    order = await api.order(client)  # no master: a step or two of its own
    async with api.ctx.db.session() as session:
        await session.execute(text(
            "INSERT INTO order_steps (order_id, at, kind, detail) SELECT id, created_at,"
            " 'placed', '{\"by\": 1, \"applianceType\": \"then\"}' FROM orders WHERE id = :id"),
            {"id": order["id"]})
        await session.commit()
    steps = await timeline(api, admin, order["id"])
    placed = [step for step in steps if step["kind"] == "placed"]
    assert [step["detail"] for step in placed] == [{"by": 1, "applianceType": "then"}]
    master = await api.master()  # the order is offered to him
    async with api.ctx.db.session() as session:
        await session.execute(text("UPDATE assignments SET why = NULL WHERE order_id = :id"),
                              {"id": order["id"]})
        await session.execute(text(
            "INSERT INTO order_steps (order_id, at, kind, assignment_id, master_id, detail)"
            " SELECT order_id, created_at, 'offered', id, master_id, '{\"how\": \"then\"}'"
            " FROM assignments WHERE order_id = :id"), {"id": order["id"]})
        await session.commit()
    offered = [step for step in await timeline(api, admin, order["id"])
               if step["kind"] == "offered"]
    assert [(step["masterId"], step["detail"]) for step in offered] == [
        (master.master_id, {"how": "then"})]


async def test_an_unknown_orders_timeline_is_404(live: Live) -> None:
    admin = await live.api.admin()
    response = await live.api.call("GET", "/api/admin/orders/999999/timeline", admin,
                                   expect=404)
    assert "999999" in response["detail"]


async def _has_kind(api: Api, order_id: int, kind: str) -> bool:
    return kind in [stored for stored, _ in await stored_steps(api, order_id)]
