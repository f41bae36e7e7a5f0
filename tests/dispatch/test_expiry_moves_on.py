"""Offers run out on their own after DISPATCHWIRE_ASSIGNMENT_TIMEOUT_S, and the order moves on."""

from datetime import datetime
from typing import Any

import pytest

from tests.conftest import Api, wait_for
from tests.dispatch.support import (
    expired_notices,
    offer_status,
    offers_of_order,
    order_ids,
    status_of,
)

TIMEOUT_S = 1.0


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"assignment_timeout_s": TIMEOUT_S}


async def expired(api: Api, assignment_id: int) -> bool:
    return await offer_status(api, assignment_id) == "expired"


async def test_an_offer_expires_by_itself_and_the_order_moves_on(api: Api) -> None:
    first = await api.master()
    second = await api.master()
    client = await api.register("client")
    order = await api.order(client)
    [offer] = await api.pending(first)
    made = datetime.fromisoformat(offer["createdAt"].replace("Z", "+00:00"))
    due = datetime.fromisoformat(offer["expiresAt"].replace("Z", "+00:00"))
    assert (due - made).total_seconds() == pytest.approx(TIMEOUT_S, abs=0.01)
    assert await offer_status(api, offer["id"]) == "pending"
    assert await api.pending(second) == []

    await wait_for(lambda: expired(api, offer["id"]), within=TIMEOUT_S + 2)
    assert await expired_notices(api, first) == [offer["id"]]
    assert await api.pending(first) == []
    [moved] = await api.pending(second)
    assert moved["orderId"] == order["id"]
    assert await status_of(api, order, client) == "new"
    await api.call("POST", f"/api/assignments/{offer['id']}/accept", first, expect=409)
    await api.call("POST", f"/api/assignments/{offer['id']}/reject", first, expect=409)
    assert await offer_status(api, offer["id"]) == "expired"

    accepted = await api.call("POST", f"/api/assignments/{moved['id']}/accept", second)
    assert accepted["order"]["status"] == "assigned"
    assert accepted["order"]["master"]["id"] == second.master_id


async def test_the_master_who_let_an_offer_expire_is_not_offered_it_again(api: Api) -> None:
    first = await api.master()
    second = await api.master()
    client = await api.register("client")
    order = await api.order(client)
    [offer] = await api.pending(first)

    await wait_for(lambda: expired(api, offer["id"]), within=TIMEOUT_S + 2)
    [moved] = await api.pending(second)
    # `first` is free again and the order would be its to take, but it let it expire.
    await wait_for(lambda: expired(api, moved["id"]), within=TIMEOUT_S + 2)
    assert await expired_notices(api, second) == [moved["id"]]
    assert await offers_of_order(api, order["id"]) == [
        (first.master_id, "expired"), (second.master_id, "expired")]
    assert await api.pending(first) == []
    assert await api.pending(second) == []
    assert await status_of(api, order, client) == "new"

    await api.call("POST", "/api/masters/me/shift/end", first)
    await api.call("POST", "/api/masters/me/shift/start", first)
    assert await api.pending(first) == []
    newcomer = await api.master()
    assert await order_ids(api, newcomer) == [order["id"]]


async def test_an_expired_master_gets_the_next_waiting_order(api: Api) -> None:
    master = await api.master()
    client = await api.register("client")
    first = await api.order(client)
    second = await api.order(client)
    [offer] = await api.pending(master)
    assert offer["orderId"] == first["id"]

    await wait_for(lambda: expired(api, offer["id"]), within=TIMEOUT_S + 2)
    assert await order_ids(api, master) == [second["id"]]
    assert await status_of(api, first, client) == "new"


async def test_an_answered_offer_does_not_expire(api: Api) -> None:
    master = await api.master()
    client = await api.register("client")
    order = await api.order(client)
    [offer] = await api.pending(master)
    await api.call("POST", f"/api/assignments/{offer['id']}/accept", master)

    other = await api.order(client)  # a later offer, to see the loop run past the first one
    bystander = await api.master()
    [later] = await api.pending(bystander)
    assert later["orderId"] == other["id"]
    await wait_for(lambda: expired(api, later["id"]), within=TIMEOUT_S + 2)
    assert await offer_status(api, offer["id"]) == "accepted"
    assert await status_of(api, order, client) == "assigned"
    assert await expired_notices(api, master) == []
