"""Fan-out on a real server, on SQLite and PostgreSQL: three masters with live sockets get one
order at once and accept it together; exactly one wins, the others' sockets hear `taken`, and
the timeline tells it all in order. A deactivated master's sockets close with 4401."""

import asyncio
from typing import Any

import pytest

from dispatchwire.clock import parse_time
from tests.conftest import wait_for
from tests.gateway.support import Live


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"offer_fanout": 3}


async def test_three_masters_accept_at_once_and_exactly_one_wins(live_any: Live) -> None:
    api = live_any.api
    admin = await api.admin()
    masters = [await api.master() for _ in range(3)]
    sockets = [await live_any.master_socket(master) for master in masters]
    client = await api.register("client")
    order = await api.order(client)
    offers = [(await ws.recv_until("new_assignment"))["assignment"] for ws in sockets]
    assert {offer["orderId"] for offer in offers} == {order["id"]}

    async def accept(index: int) -> Any:
        async with asyncio.timeout(10):
            return await api.client.post(f"/api/assignments/{offers[index]['id']}/accept",
                                         headers=masters[index].headers)

    answers = await asyncio.gather(*(accept(i) for i in range(3)))
    assert sorted(r.status_code for r in answers) == [200, 409, 409]
    winner = next(i for i, r in enumerate(answers) if r.status_code == 200)
    assert answers[winner].json()["order"]["status"] == "assigned"
    for index, ws in enumerate(sockets):
        if index == winner:
            update = await ws.recv_until("order_status_update")
            assert (update["orderId"], update["status"]) == (order["id"], "assigned")
        else:
            ended = await ws.recv_until("assignment_expired")
            assert (ended["assignmentId"], ended["reason"]) == (offers[index]["id"], "taken")
            assert "is cancelled" in answers[index].json()["detail"]
    seen = await api.call("GET", f"/api/orders/{order['id']}", client)
    assert (seen["status"], seen["masterId"]) == ("assigned", masters[winner].master_id)

    path = f"/api/admin/orders/{order['id']}/timeline"
    steps = await wait_for(lambda: _with_three_sent(api, admin, path), within=5)
    times = [parse_time(step["at"]) for step in steps]
    assert times == sorted(times)
    ids = [m.master_id for m in masters]
    story = [(s["kind"], s.get("masterId")) for s in steps if s["kind"] not in
             ("sent", "delivered")]
    losers = [ids[i] for i in range(3) if i != winner]
    assert story[:4] == [("placed", None), ("offered", ids[0]), ("offered", ids[1]),
                         ("offered", ids[2])]
    assert story[4:6] == [("accepted", ids[winner]), ("status", ids[winner])]
    assert sorted(story[6:]) == sorted(("expired", loser) for loser in losers)
    assert {s["detail"]["reason"] for s in steps if s["kind"] == "expired"} == {"taken"}
    sent = [s for s in steps if s["kind"] == "sent"]
    assert sorted(s["masterId"] for s in sent) == sorted(ids)
    accepted_at = next(parse_time(s["at"]) for s in steps if s["kind"] == "accepted")
    assert all(parse_time(s["at"]) <= accepted_at for s in sent)
    for ws in sockets:
        await ws.close()


async def test_a_deactivated_master_is_cut_off(live: Live) -> None:
    api = live.api
    admin = await api.admin()
    master = await api.master()
    first, second = await live.master_socket(master), await live.master_socket(master)
    await api.call("PATCH", f"/api/admin/masters/{master.master_id}", admin,
                   json={"active": False})
    for ws in (first, second):
        code, reason = await ws.closed()
        assert code == 4401 and "deactivated" in reason
        assert ws.received[-1]["type"] == "auth_error"
    again = live.socket()
    await again.connect()
    await again.send({"type": "auth", "token": master.token})
    refused = await again.recv()
    assert refused["type"] == "auth_error" and "deactivated" in refused["message"]
    assert (await again.closed())[0] == 4401


async def _with_three_sent(api: Any, admin: Any, path: str) -> Any:
    steps = await api.call("GET", path, admin)
    return steps if sum(s["kind"] == "sent" for s in steps) == 3 else None
