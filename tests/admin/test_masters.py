"""Who may be a master (DISPATCHWIRE_MASTERS_NEED_APPROVAL on): a self-registered master waits
for an admin's approval before his first shift; masters made by admins and the demo masters
are approved; deactivation ends the shift, withdraws the offers and refuses the login; only
admins see and change masters."""

import asyncio
from typing import Any

import pytest

from tests.conftest import Api, Person, make_settings, running_app, wait_for
from tests.dispatch.support import events_of


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"masters_need_approval": True}


async def _login(api: Api, email: str, expect: int = 200) -> Any:
    return await api.call("POST", "/api/auth/login", expect=expect,
                          json={"email": email, "password": api.password})


async def test_a_self_registered_master_waits_for_approval(api: Api) -> None:
    admin = await api.admin()
    master = await api.master(specializations=["oven"], on_shift=False)
    me = await api.call("GET", "/api/masters/me", master)
    assert (me["approved"], me["active"]) == (False, True)
    await api.call("PATCH", "/api/masters/me", master, json={"lat": 1.0, "lon": 2.0})
    refused = await api.call("POST", "/api/masters/me/shift/start", master, expect=403)
    assert "approval" in refused["detail"]
    listed = {m["masterId"]: m for m in await api.call("GET", "/api/admin/masters", admin)}
    assert listed[master.master_id]["approved"] is False
    changed = await api.call("PATCH", f"/api/admin/masters/{master.master_id}", admin,
                             json={"approved": True})
    assert (changed["approved"], changed["active"], changed["onShift"]) == (True, True, False)
    assert await api.call("POST", "/api/masters/me/shift/start", master) == {"onShift": True}
    assert (await api.call("GET", "/api/masters/me", master))["approved"] is True


async def test_a_master_made_by_an_admin_is_approved(api: Api) -> None:
    admin = await api.admin()
    body = {"email": "made@example.com", "password": api.password, "name": "Made Master",
            "phone": "+1 555 0142", "specializations": ["oven", "dishwasher", "oven"]}
    made = await api.call("POST", "/api/admin/masters", admin, json=body, expect=201)
    assert made | {"masterId": 0, "userId": 0} == {
        "masterId": 0, "userId": 0, "name": "Made Master", "email": "made@example.com",
        "phone": "+1 555 0142", "specializations": ["dishwasher", "oven"], "approved": True,
        "active": True, "onShift": False, "connected": False, "lastSeenAt": None, "offers": 0,
        "accepted": 0, "rejected": 0, "expired": 0, "undelivered": 0}
    token = (await _login(api, "made@example.com"))["token"]
    person = Person(made["userId"], "made@example.com", "master", token, made["masterId"])
    assert await api.call("POST", "/api/masters/me/shift/start", person) == {"onShift": True}
    again = await api.call("POST", "/api/admin/masters", admin, json=body, expect=409)
    assert "already registered" in again["detail"]


async def test_deactivation_ends_the_shift_withdraws_offers_and_refuses_the_login(
        api: Api) -> None:
    admin = await api.admin()
    master = await _approved(api, admin)
    other = await _approved(api, admin)  # idle for less time: second in line
    client = await api.register("client")
    order = await api.order(client)
    [offer] = await api.pending(master)
    changed = await api.call("PATCH", f"/api/admin/masters/{master.master_id}", admin,
                             json={"active": False})
    assert (changed["active"], changed["onShift"], changed["approved"]) == (False, False, True)
    ended = [e for e in await events_of(api, master) if e["type"] == "assignment_expired"]
    assert [(e["assignmentId"], e["reason"]) for e in ended] == [(offer["id"], "withdrawn")]
    assert [o["orderId"] for o in await api.pending(other)] == [order["id"]]  # moved on
    refused = await _login(api, master.email, expect=403)
    assert "deactivated" in refused["detail"]
    for method, path in (("GET", "/api/masters/me"), ("POST", "/api/masters/me/shift/start")):
        answer = await api.call(method, path, master, expect=403)
        assert "deactivated" in answer["detail"]
    # Made active again, he may log in; his shift waits for him to start it.
    back = await api.call("PATCH", f"/api/admin/masters/{master.master_id}", admin,
                          json={"active": True})
    assert (back["active"], back["onShift"]) == (True, False)
    await _login(api, master.email)


async def test_withdrawing_approval_ends_the_shift(api: Api) -> None:
    admin = await api.admin()
    master = await _approved(api, admin)
    await api.call("PATCH", f"/api/admin/masters/{master.master_id}", admin,
                   json={"approved": False})
    me = await api.call("GET", "/api/masters/me", master)
    assert (me["onShift"], me["approved"]) == (False, False)
    await api.call("POST", "/api/masters/me/shift/start", master, expect=403)


async def test_new_specializations_bring_a_waiting_order(api: Api) -> None:
    admin = await api.admin()
    master = await _approved(api, admin)
    await api.call("PATCH", f"/api/admin/masters/{master.master_id}", admin,
                   json={"specializations": ["refrigerator"]})
    client = await api.register("client")
    order = await api.order(client, "oven")
    assert await api.pending(master) == []
    changed = await api.call("PATCH", f"/api/admin/masters/{master.master_id}", admin,
                             json={"specializations": ["oven"]})
    assert changed["specializations"] == ["oven"]
    assert [o["orderId"] for o in await api.pending(master)] == [order["id"]]


async def test_the_masters_list_shows_who_is_seen_and_who_is_connected(api: Api) -> None:
    admin = await api.admin()
    master = await _approved(api, admin)
    await api.call("GET", "/api/assignments/pending", master)  # seen: a poll

    async def seen() -> Any:
        rows = await api.call("GET", "/api/admin/masters", admin)
        return next(r["lastSeenAt"] for r in rows if r["masterId"] == master.master_id)

    assert await wait_for(seen, within=3)
    row = next(r for r in await api.call("GET", "/api/admin/masters", admin)
               if r["masterId"] == master.master_id)
    assert (row["connected"], row["onShift"]) == (False, True)


async def test_only_admins_reach_the_masters(api: Api) -> None:
    admin = await api.admin()
    client = await api.register("client")
    master = await api.master(on_shift=False)
    body = {"email": "x@example.com", "password": api.password, "name": "X",
            "specializations": []}
    for who in (client, master):
        for method, path, kwargs in (
                ("GET", "/api/admin/masters", {}),
                ("POST", "/api/admin/masters", {"json": body}),
                ("PATCH", f"/api/admin/masters/{master.master_id}", {"json": {"active": False}}),
                ("GET", "/api/admin/dispatch/stats", {}),
                ("GET", "/api/admin/orders/1/timeline", {})):
            answer = await api.call(method, path, who, expect=403, **kwargs)
            assert "admin" in answer["detail"], (who.role, path)
    await api.call("GET", "/api/admin/masters", None, expect=401)
    assert (await api.call("GET", "/api/masters/me", master))["active"] is True  # untouched
    del admin


async def test_bad_input_is_refused_clearly(api: Api) -> None:
    admin = await api.admin()
    master = await api.master(on_shift=False)
    path = f"/api/admin/masters/{master.master_id}"
    cases: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("PATCH", path, {"json": {}}, 422, "at least one"),
        ("PATCH", path, {"json": {"active": "no"}}, 422, "active"),
        ("PATCH", path, {"json": {"specializations": ["Not A Type"]}}, 422, "specializations"),
        ("PATCH", "/api/admin/masters/999999", {"json": {"active": True}}, 404, "not found"),
        ("PATCH", "/api/admin/masters/0", {"json": {"active": True}}, 422, "masterId"),
        ("PATCH", "/api/admin/masters/99999999999", {"json": {"active": True}}, 422,
         "masterId"),
        ("POST", "/api/admin/masters", {"json": {"email": "nope", "password": "x",
                                                 "name": "", "specializations": []}}, 422,
         "email"),
        ("GET", "/api/admin/orders/999999/timeline", {}, 404, "not found"),
        ("GET", "/api/admin/orders/0/timeline", {}, 422, "order_id"),
        ("GET", "/api/admin/dispatch/stats", {"params": {"since": "yesterday"}}, 422,
         "ISO 8601"),
        ("GET", "/api/admin/dispatch/stats", {"params": {"since": "2999-01-01T00:00:00Z"}},
         422, "future"),
        ("GET", "/api/admin/dispatch/stats", {"params": {"since": "0001-01-01T00:00:00+05:00"}},
         422, "ISO 8601"),
        ("GET", "/api/admin/dispatch/stats", {"params": {"since": "x" * 65}}, 422, "since"),
        ("GET", "/api/admin/masters", {"params": {"limit": 0}}, 422, "limit"),
    ]
    for method, where, kwargs, status, words in cases:
        answer = await api.call(method, where, admin, expect=status, **kwargs)
        assert words in str(answer["detail"]), (where, kwargs, answer)


async def test_appliance_types_count_approved_active_masters(api: Api) -> None:
    admin = await api.admin()
    client = await api.register("client")
    on_shift = await _approved(api, admin, ["oven", "dishwasher"])
    await _approved(api, admin, ["oven"], on_shift=False)
    await api.master(specializations=["dryer"], on_shift=False)  # not approved: not counted
    gone = await _approved(api, admin, ["refrigerator"])
    await api.call("PATCH", f"/api/admin/masters/{gone.master_id}", admin,
                   json={"active": False})
    types = await api.call("GET", "/api/appliance-types", client)
    assert types == [{"type": "dishwasher", "masters": 1, "onShift": 1},
                     {"type": "oven", "masters": 2, "onShift": 1}]
    assert on_shift.master_id is not None
    await api.call("GET", "/api/appliance-types", None, expect=401)


async def test_the_demo_masters_are_approved(tmp_path: Any) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'demo.db'}", demo=True,
                             masters_need_approval=True)
    async with running_app(settings) as api:
        admin = await _login_as(api, "admin@example.com", "admin-demo-1")
        rows = await api.call("GET", "/api/admin/masters", admin)
        assert [(r["email"], r["approved"]) for r in rows] == [
            ("master1@example.com", True), ("master2@example.com", True),
            ("master3@example.com", True)]
        master = await _login_as(api, "master1@example.com", "master-demo-1")
        assert await api.call("POST", "/api/masters/me/shift/start", master) == {
            "onShift": True}


async def _login_as(api: Api, email: str, password: str) -> Person:
    data = await api.call("POST", "/api/auth/login", json={"email": email, "password": password})
    user = data["user"]
    return Person(user["id"], email, user["role"], data["token"], user.get("masterId"))


async def _approved(api: Api, admin: Person, specializations: list[str] | None = None, *,
                    on_shift: bool = True) -> Person:
    master = await api.master(specializations=specializations, on_shift=False)
    await api.call("PATCH", f"/api/admin/masters/{master.master_id}", admin,
                   json={"approved": True})
    if on_shift:
        await api.call("POST", "/api/masters/me/shift/start", master)
        await asyncio.sleep(0)
    return master
