"""DISPATCHWIRE_DECLINE_COOLDOWN_S: after a decline a master is offered nothing for that long;
when it ends, what waits for him is offered to him at once (a timer of the expiry loop)."""

import time
from typing import Any

import pytest

from dispatchwire.clock import parse_time
from tests.conftest import Api, wait_for
from tests.dispatch.support import reject

COOLDOWN_S = 1.0


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"decline_cooldown_s": COOLDOWN_S}


async def test_a_cooldown_holds_then_ends_with_the_waiting_order_offered(api: Api) -> None:
    cooling, other = await api.master(), await api.master()
    client = await api.register("client")
    first = await api.order(client)
    [offer] = await api.pending(cooling)  # idle longest: he gets it
    declined = await reject(api, cooling, offer)
    declined_at = parse_time(declined["assignment"]["resolvedAt"])
    assert [o["orderId"] for o in await api.pending(other)] == [first["id"]]

    second = await api.order(client)  # the only free master is cooling down: it waits
    started = time.monotonic()
    assert await api.pending(cooling) == []
    async with api.ctx.db.read() as sql:
        assert await sql.scalar("SELECT cooldown_until FROM masters WHERE id = :id",
                                {"id": cooling.master_id}) is not None
    offers = await wait_for(lambda: api.pending(cooling), within=COOLDOWN_S + 3)
    assert [o["orderId"] for o in offers] == [second["id"]]
    offered_at = parse_time(offers[0]["createdAt"])
    assert (offered_at - declined_at).total_seconds() >= COOLDOWN_S
    assert time.monotonic() - started < COOLDOWN_S + 2  # at once when it ends, not at a poll
    async with api.ctx.db.read() as sql:
        assert await sql.scalar("SELECT cooldown_until FROM masters WHERE id = :id",
                                {"id": cooling.master_id}) is None

