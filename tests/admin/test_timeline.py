"""Why an order went to a master, as its timeline tells: ranked (with the ranking's reasons),
a master who became free, or an admin's choice."""

from typing import Any

import pytest

from dispatchwire.dispatch.ranking import distance_km
from tests.conftest import Api, Person


async def _offered(api: Api, admin: Person, order: dict[str, Any]) -> list[dict[str, Any]]:
    steps = await api.call("GET", f"/api/admin/orders/{order['id']}/timeline", admin)
    return [step for step in steps if step["kind"] == "offered"]


async def test_a_ranked_offer_tells_distance_and_idle_time(api: Api) -> None:
    admin = await api.admin()
    master = await api.master(lat=51.5, lon=-0.12)
    client = await api.register("client")
    order = await api.order(client, lat=51.52, lon=-0.1)
    [offered] = await _offered(api, admin, order)
    profile = await api.call("GET", "/api/masters/me", master)
    assert offered["masterId"] == master.master_id
    assert offered["detail"] == {
        "how": "ranked", "rank": 1, "live": False, "slot": 0,
        "distanceKm": pytest.approx(distance_km(51.52, -0.1, 51.5, -0.12), abs=0.001),
        "idleSince": profile["idleSince"]}


async def test_an_order_taken_up_by_a_master_who_became_free_says_so(api: Api) -> None:
    admin = await api.admin()
    client = await api.register("client")
    order = await api.order(client)  # no one on shift: it waits
    assert await _offered(api, admin, order) == []
    master = await api.master()
    [offered] = await _offered(api, admin, order)
    assert (offered["masterId"], offered["detail"]["how"]) == (master.master_id, "free")
    assert "rank" not in offered["detail"]


async def test_a_manual_offer_names_the_admin(api: Api) -> None:
    admin = await api.admin()
    first, chosen = await api.master(), await api.master()
    client = await api.register("client")
    order = await api.order(client)
    await api.call("POST", "/api/admin/assignments", admin, expect=201,
                   json={"orderId": order["id"], "masterId": chosen.master_id})
    ranked, manual = await _offered(api, admin, order)
    assert ranked["masterId"] == first.master_id
    assert (manual["masterId"], manual["detail"]) == (
        chosen.master_id, {"how": "manual", "by": admin.id, "slot": 0})
    steps = await api.call("GET", f"/api/admin/orders/{order['id']}/timeline", admin)
    withdrawn = next(s for s in steps if s["kind"] == "expired")
    assert (withdrawn["masterId"], withdrawn["detail"]) == (first.master_id,
                                                           {"reason": "withdrawn"})
