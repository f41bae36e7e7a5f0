"""Bad input is a 422 whose `detail` names what was wrong; never a 500."""

import json
from typing import Any

import httpx
import pytest

from tests.conftest import Api, Person

GOOD_REGISTER = {"email": "ann@example.com", "password": "correct horse battery", "name": "Ann",
                 "role": "client"}
GOOD_ORDER = {"applianceType": "washing_machine", "problem": "does not spin",
              "address": "1 Main St"}
HUGE_ID = 2**40  # a valid integer beyond any 32-bit id column
JSON_TYPE = {"Content-Type": "application/json"}


async def send(api: Api, method: str, path: str, who: Person | None = None,
               **kwargs: Any) -> httpx.Response:
    """The response; an exception escaping the app (a 500) fails the test with its cause."""
    headers = {**(who.headers if who else {}), **kwargs.pop("headers", {})}
    try:
        return await api.client.request(method, path, headers=headers, **kwargs)
    except Exception as exc:
        pytest.fail(f"{method} {path} crashed the app (a 500): {exc!r}"[:2000])


async def rejected(api: Api, method: str, path: str, who: Person | None = None,
                   names: tuple[str, ...] = (), **kwargs: Any) -> Any:
    """Assert a 422 whose detail mentions each of `names`; return the detail."""
    response = await send(api, method, path, who, **kwargs)
    assert response.status_code == 422, (method, path, kwargs, response.text)
    detail = response.json()["detail"]
    assert detail, response.text
    # the field must be named by the error itself, not just appear in echoed input
    text = json.dumps([{k: v for k, v in e.items() if k != "input"} for e in detail]
                      if isinstance(detail, list) else detail)
    for name in names:
        assert name in text, (name, detail)
    return detail


BAD_REGISTER: list[tuple[dict[str, Any], str]] = [
    ({"email": "not-an-email"}, "email"),
    ({"email": "ann@"}, "email"),
    ({"password": "short"}, "password"),
    ({"name": None}, "name"),
    ({"name": "   "}, "name"),
    ({"role": "superuser"}, "role"),
    ({"role": None}, "role"),
    ({"phone": "call me maybe"}, "phone"),
    ({"specializations": ["Washing Machine!"]}, "specializations"),
]
BAD_ORDER: list[tuple[dict[str, Any], str]] = [
    ({"applianceType": None}, "applianceType"),
    ({"applianceType": "Washing Machine!"}, "applianceType"),
    ({"applianceType": ""}, "applianceType"),
    ({"problem": ""}, "problem"),
    ({"problem": "   "}, "problem"),
    ({"address": None}, "address"),
    ({"lat": 90.5, "lon": 0}, "lat"),
    ({"lat": -91, "lon": 0}, "lat"),
    ({"lat": 0, "lon": 181}, "lon"),
    ({"lat": "north", "lon": 0}, "lat"),
]


def changed(good: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """`good` with `change` applied; a None value drops the field."""
    return {k: v for k, v in {**good, **change}.items() if v is not None}


async def test_register_with_bad_fields(api: Api) -> None:
    for change, field in BAD_REGISTER:
        await rejected(api, "POST", "/api/auth/register", names=(field,),
                       json=changed(GOOD_REGISTER, change))
    # nothing was created: the good body still registers
    await api.call("POST", "/api/auth/register", json=GOOD_REGISTER, expect=201)


async def test_register_errors_do_not_echo_the_password(api: Api) -> None:
    password = "hunter2-secret-password"
    body = {"email": "ann@example.com", "password": password, "role": "client"}  # no name
    detail = await rejected(api, "POST", "/api/auth/register", names=("name",), json=body)
    assert password not in json.dumps(detail)
    detail = await rejected(api, "POST", "/api/auth/register", names=("password",),
                            json={**GOOD_REGISTER, "password": "shortpw"})
    assert "shortpw" not in json.dumps(detail)


async def test_login_with_a_bad_email_is_422(api: Api) -> None:
    await rejected(api, "POST", "/api/auth/login", names=("email",),
                   json={"email": "nobody", "password": "whatever it is"})
    await rejected(api, "POST", "/api/auth/login", names=("password",),
                   json={"email": "nobody@example.com"})


async def test_order_with_bad_fields(api: Api) -> None:
    client = await api.register("client")
    for change, field in BAD_ORDER:
        await rejected(api, "POST", "/api/orders", client, names=(field,),
                       json=changed(GOOD_ORDER, change))
    assert await api.call("GET", "/api/orders", client) == []


async def test_a_coordinate_that_is_not_a_number_is_refused(api: Api) -> None:
    """Python's JSON parser reads NaN and Infinity; they must not get into an order."""
    client = await api.register("client")
    master = await api.register("master")
    for value in ("NaN", "Infinity", "-Infinity"):
        body = ('{"applianceType": "oven", "problem": "cold", "address": "1 Main St", '
                f'"lat": {value}, "lon": 0}}')
        await rejected(api, "POST", "/api/orders", client, names=("lat",), content=body,
                       headers=JSON_TYPE)
        await rejected(api, "PATCH", "/api/masters/me", master, names=("lat",),
                       content=f'{{"lat": {value}, "lon": 0}}', headers=JSON_TYPE)
    assert await api.call("GET", "/api/orders", client) == []


async def test_a_nul_character_in_text_is_refused(api: Api) -> None:
    """PostgreSQL cannot store U+0000 in text; it must be a 422 on every database."""
    client = await api.register("client")
    await rejected(api, "POST", "/api/orders", client, names=("problem",),
                   json={**GOOD_ORDER, "problem": "leaks\u0000water"})
    await rejected(api, "POST", "/api/auth/register", names=("name",),
                   json={**GOOD_REGISTER, "name": "A\u0000nn"})


async def test_status_with_an_unknown_value(api: Api) -> None:
    client = await api.register("client")
    order = await api.order(client)
    for body in ({"status": "done"}, {"status": "CANCELLED"}, {"status": None}, {}):
        await rejected(api, "POST", f"/api/orders/{order['id']}/status", client,
                       names=("status",), json=body)
    assert (await api.call("GET", f"/api/orders/{order['id']}", client))["status"] == "new"
    await rejected(api, "GET", "/api/orders", client, names=("status",),
                   params={"status": "done"})


async def test_a_location_needs_both_lat_and_lon(api: Api) -> None:
    master = await api.register("master")
    detail = await rejected(api, "PATCH", "/api/masters/me", master, names=("lat", "lon"),
                            json={"lat": 52.1})
    assert isinstance(detail, str)
    await rejected(api, "PATCH", "/api/masters/me", master, names=("lat", "lon"),
                   json={"lon": 4.3})
    profile = await api.call("GET", "/api/masters/me", master)
    assert (profile["lat"], profile["lon"]) == (None, None)
    await rejected(api, "PATCH", "/api/masters/me", master, names=("specializations",),
                   json={"specializations": ["Oven"]})


async def test_a_body_that_is_not_a_json_object(api: Api) -> None:
    client = await api.register("client")
    for content in (b"{not json", b"", b"[1, 2]", b'"a string"', b"\xff\xfe", b"null"):
        await rejected(api, "POST", "/api/orders", client, names=("body",), content=content,
                       headers=JSON_TYPE)
        await rejected(api, "POST", "/api/auth/login", names=("body",), content=content,
                       headers=JSON_TYPE)


async def test_a_form_body_is_not_json(api: Api) -> None:
    await rejected(api, "POST", "/api/auth/register", names=("body",),
                   content=b"email=a@example.com&password=12345678",
                   headers={"Content-Type": "application/x-www-form-urlencoded"})


async def test_an_id_in_the_path_must_be_an_integer(api: Api) -> None:
    client = await api.register("client")
    master = await api.register("master")
    for bad in ("abc", "1.5", "1e3", "%20"):
        await rejected(api, "GET", f"/api/orders/{bad}", client, names=("order_id",))
        await rejected(api, "POST", f"/api/orders/{bad}/status", client, names=("order_id",),
                       json={"status": "cancelled"})
        for action in ("accept", "reject"):
            await rejected(api, "POST", f"/api/assignments/{bad}/{action}", master,
                           names=("assignment_id",))


async def test_an_id_too_large_for_the_database_is_not_found(api: Api) -> None:
    """An integer no row can have is simply absent (404), on every database."""
    client = await api.register("client")
    master = await api.register("master")
    admin = await api.admin()
    order = await api.order(await api.register("client"))
    calls: list[tuple[Person, str, str, dict[str, Any]]] = [
        (client, "GET", f"/api/orders/{HUGE_ID}", {}),
        (client, "POST", f"/api/orders/{HUGE_ID}/status", {"json": {"status": "cancelled"}}),
        (master, "POST", f"/api/assignments/{HUGE_ID}/accept", {}),
        (master, "POST", f"/api/assignments/{HUGE_ID}/reject", {}),
        (admin, "POST", "/api/admin/assignments",
         {"json": {"orderId": HUGE_ID, "masterId": master.master_id}}),
        (admin, "POST", "/api/admin/assignments",
         {"json": {"orderId": order["id"], "masterId": HUGE_ID}}),
    ]
    wrong = []
    for who, method, path, kwargs in calls:
        try:
            response = await api.client.request(method, path, headers=who.headers, **kwargs)
        except Exception as exc:
            wrong.append(f"{method} {path} {kwargs}: 500, {type(exc).__name__}")
            continue
        if response.status_code not in (404, 422) or not response.json().get("detail"):
            wrong.append(f"{method} {path} {kwargs}: {response.status_code} {response.text}")
    assert not wrong, "\n".join(wrong)


async def test_query_limits(api: Api) -> None:
    client = await api.register("client")
    await rejected(api, "GET", "/api/orders", client, names=("limit",), params={"limit": 0})
    await rejected(api, "GET", "/api/orders", client, names=("limit",), params={"limit": 10**6})
    await rejected(api, "GET", "/api/orders", client, names=("offset",), params={"offset": -1})


async def test_values_of_the_wrong_json_type_are_refused_not_coerced(api: Api) -> None:
    admin = await api.admin()
    master = await api.master()
    order = await api.order(await api.register("client"))
    for body, name in (({"orderId": True, "masterId": master.master_id}, "orderId"),
                       ({"orderId": str(order["id"]), "masterId": master.master_id}, "orderId")):
        await rejected(api, "POST", "/api/admin/assignments", admin, names=(name,), json=body)
    await rejected(api, "PATCH", "/api/masters/me", master, names=("lat",),
                   json={"lat": True, "lon": 1.0})


async def test_every_character_of_a_password_counts(api: Api) -> None:
    body = {"email": "spaces@example.com", "password": "  spaced out  ", "name": "  Sam  ",
            "role": "client"}
    registered = await api.call("POST", "/api/auth/register", json=body, expect=201)
    assert registered["user"]["name"] == "Sam"  # free text is trimmed, passwords are not
    login = {"email": body["email"], "password": "  spaced out  "}
    await api.call("POST", "/api/auth/login", json=login)
    await api.call("POST", "/api/auth/login", json={**login, "password": "spaced out"},
                   expect=401)
