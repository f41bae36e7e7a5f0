"""Operations that touch one order from two sides at once end cleanly: never a 500.

Every write locks an order before its offers, so that a cancel racing an accept, the expiry
loop or a shift end cannot deadlock on PostgreSQL.
"""

import asyncio
from datetime import timedelta
from typing import Any

import httpx

from dispatchwire.clock import utcnow
from dispatchwire.dispatch.expiry import expire_due_offers
from tests.conftest import Api, Person
from tests.dispatch.support import all_assignments

ROUNDS = 12


async def offered_pairs(api: Api) -> list[tuple[Person, Person, dict[str, Any], int]]:
    """ROUNDS masters, each holding the offer of one client's order."""
    pairs = []
    for _ in range(ROUNDS):
        master = await api.master()
        client = await api.register("client")
        order = await api.order(client)
        [offer] = await api.pending(master)
        pairs.append((master, client, order, offer["id"]))
    return pairs


def post(api: Api, path: str, who: Person, **kwargs: Any) -> Any:
    return api.client.post(path, headers=who.headers, **kwargs)


def cancel(api: Api, client: Person, order: dict[str, Any]) -> Any:
    return post(api, f"/api/orders/{order['id']}/status", client, json={"status": "cancelled"})


async def assert_consistent(api: Api, responses: list[httpx.Response]) -> None:
    assert all(r.status_code in (200, 409) for r in responses), [
        (r.status_code, r.text) for r in responses if r.status_code not in (200, 409)]
    pending = [a for a in await all_assignments(api) if a.status == "pending"]
    assert len({a.master_id for a in pending}) == len(pending)
    assert len({a.order_id for a in pending}) == len(pending)


async def test_cancel_racing_accept(api: Api) -> None:
    pairs = await offered_pairs(api)
    calls = []
    for master, client, order, offer in pairs:
        calls += [post(api, f"/api/assignments/{offer}/accept", master),
                  cancel(api, client, order)]
    responses = await asyncio.gather(*calls)
    await assert_consistent(api, responses)
    for (_, client, order, _), accepted in zip(pairs, responses[::2], strict=True):
        final = await api.call("GET", f"/api/orders/{order['id']}", client)
        assert final["status"] in ("assigned", "cancelled")
        if accepted.status_code == 409:
            assert final["status"] == "cancelled"


async def test_cancel_racing_the_expiry_loop(api: Api) -> None:
    pairs = await offered_pairs(api)
    later = utcnow() + timedelta(hours=1)
    results = await asyncio.gather(expire_due_offers(api.ctx, now=later),
                                   *(cancel(api, client, order) for _, client, order, _ in pairs))
    await assert_consistent(api, list(results[1:]))
    statuses = {a.status for a in await all_assignments(api)}
    assert statuses <= {"expired", "cancelled", "pending"}


async def test_cancel_racing_shift_ends(api: Api) -> None:
    pairs = await offered_pairs(api)
    calls = []
    for master, client, order, _ in pairs:
        calls += [post(api, "/api/masters/me/shift/end", master), cancel(api, client, order)]
    await assert_consistent(api, await asyncio.gather(*calls))
    assert not [a for a in await all_assignments(api) if a.status == "pending"]
