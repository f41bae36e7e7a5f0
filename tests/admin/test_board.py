"""The dispatch board's figures by REST: who holds each waiting order's offer and until when,
or what tells why it waits; and the time-to-accept histogram."""

from typing import Any

import pytest

from tests.conftest import Api
from tests.dispatch.support import accept, reject


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"escalate_after": 2}


async def test_the_waiting_orders_say_who_holds_them_or_why_they_wait(api: Api) -> None:
    admin = await api.admin()
    first, second = await api.master(), await api.master()  # both take any type
    await api.master(specializations=["oven"], on_shift=False)
    client = await api.register("client")
    held = await api.order(client)  # to `first`, idle longest
    refused = await api.order(client)  # to `second`, who declines it: it waits
    [declined] = await api.pending(second)
    await reject(api, second, declined)
    oven = await api.order(client, "oven")  # to `second` again
    dryer = await api.order(client, "dryer")  # both busy: it waits

    board = {row["orderId"]: row for row in await api.call("GET", "/api/admin/dispatch/waiting",
                                                            admin)}
    assert list(board) == [held["id"], refused["id"], oven["id"], dryer["id"]]
    [offer] = board[held["id"]]["offers"]
    name = (await api.call("GET", "/api/masters/me", first))["name"]
    assert (offer["masterId"], offer["name"]) == (first.master_id, name)
    assert offer["expiresAt"] > held["createdAt"] and offer["deliveredAt"] is None
    assert [o["masterId"] for o in board[oven["id"]]["offers"]] == [second.master_id]
    assert (board[refused["id"]]["offers"], board[refused["id"]]["refusedBy"]) == ([], 1)
    assert (board[dryer["id"]]["offers"], board[dryer["id"]]["refusedBy"]) == ([], 0)
    assert board[oven["id"]]["masters"] == {"declaring": 3, "onShift": 2}
    assert board[dryer["id"]]["masters"] == {"declaring": 2, "onShift": 2}
    assert all(row["attention"] == [] for row in board.values())
    [polled] = await api.pending(first)
    await accept(api, first, polled)
    board = {row["orderId"]: row for row in await api.call("GET", "/api/admin/dispatch/waiting",
                                                            admin)}
    assert held["id"] not in board


async def test_an_order_no_one_takes_shows_its_escalation(api: Api) -> None:
    admin = await api.admin()
    await api.master(specializations=["oven"], on_shift=False)
    client = await api.register("client")
    order = await api.order(client, "refrigerator")
    [row] = await api.call("GET", "/api/admin/dispatch/waiting", admin)
    assert row["orderId"] == order["id"]
    assert [a["reason"] for a in row["attention"]] == ["no_master"]
    assert row["masters"] == {"declaring": 0, "onShift": 0}


async def test_accept_times_fall_in_their_buckets(api: Api) -> None:
    admin = await api.admin()
    masters = [await api.master() for _ in range(2)]
    client = await api.register("client")
    for master in masters:
        await api.order(client)
        [offer] = await api.pending(master)
        await accept(api, master, offer)
    times = await api.call("GET", "/api/admin/dispatch/accept-times", admin)
    assert [b["upToS"] for b in times["buckets"]] == [5, 15, 30, 60, 120, 300, 600, 1800, None]
    assert times["buckets"][0]["count"] == 2 and sum(b["count"] for b in times["buckets"]) == 2
    for who in (client, masters[0]):
        await api.call("GET", "/api/admin/dispatch/waiting", who, expect=403)
        await api.call("GET", "/api/admin/dispatch/accept-times", who, expect=403)
    await api.call("GET", "/api/admin/dispatch/accept-times", admin, expect=422,
                   params={"since": "soon"})
