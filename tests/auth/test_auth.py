"""Accounts over HTTP: registration, login, and what a bearer token must be to be accepted."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import delete

from dispatchwire.auth.models import User
from dispatchwire.auth.security import KnownUsers
from tests.conftest import TEST_SECRET, Api, Person

USER_FIELDS = {"id", "email", "name", "phone", "role", "masterId", "createdAt"}


def body(email: str = "ann@example.com", role: str = "client", **fields: Any) -> dict[str, Any]:
    return {"email": email, "password": "correct horse battery", "name": "Ann", "role": role,
            **fields}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def bearer_of(token: str) -> Person:
    """A caller known only by its token, for `Api.call`."""
    return Person(id=0, email="", role="", token=token)


def signed(claims: dict[str, Any], secret: str = TEST_SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


async def test_register_a_client_returns_a_token_and_the_user(api: Api) -> None:
    data = await api.call("POST", "/api/auth/register", expect=201,
                          json=body(phone="+1 555 0100"))
    assert set(data) == {"token", "user"}
    user = data["user"]
    assert set(user) == USER_FIELDS
    assert isinstance(user["id"], int)
    assert user["email"] == "ann@example.com"
    assert (user["name"], user["phone"], user["role"]) == ("Ann", "+1 555 0100", "client")
    assert user["masterId"] is None
    assert "password" not in str(data).lower()

    me = await api.call("GET", "/api/auth/me", bearer_of(data["token"]))
    assert me == user


async def test_register_a_master_gives_a_master_id(api: Api) -> None:
    data = await api.call("POST", "/api/auth/register", expect=201,
                          json=body("bob@example.com", "master"))
    master_id = data["user"]["masterId"]
    assert isinstance(master_id, int)
    assert data["user"]["role"] == "master"
    me = await api.call("GET", "/api/auth/me", bearer_of(data["token"]))
    assert me["masterId"] == master_id
    profile = await api.call("GET", "/api/masters/me", bearer_of(data["token"]))
    assert profile["id"] == master_id
    assert profile["userId"] == data["user"]["id"]


async def test_a_taken_email_is_409_whatever_its_case(api: Api) -> None:
    await api.call("POST", "/api/auth/register", expect=201, json=body("Dup@Example.com"))
    for email, role in (("dup@example.com", "client"), ("DUP@EXAMPLE.COM", "master"),
                        ("Dup@Example.com", "client")):
        data = await api.call("POST", "/api/auth/register", expect=409, json=body(email, role))
        assert "detail" in data
        assert "dup@example.com" in data["detail"].lower()
    # the failed master registration left no half-made account behind
    login = await api.call("POST", "/api/auth/login",
                           json={"email": "DUP@example.com", "password": api.password})
    assert login["user"]["role"] == "client"
    assert login["user"]["email"] == "dup@example.com"


async def test_registering_an_admin_is_forbidden(api: Api) -> None:
    data = await api.call("POST", "/api/auth/register", expect=403,
                          json=body("boss@example.com", "admin"))
    assert "admin" in data["detail"]
    # and no account was made
    await api.call("POST", "/api/auth/login", expect=401,
                   json={"email": "boss@example.com", "password": api.password})


async def test_login(api: Api) -> None:
    registered = await api.call("POST", "/api/auth/register", expect=201, json=body())
    data = await api.call("POST", "/api/auth/login",
                          json={"email": "ANN@example.com", "password": api.password})
    assert set(data) == {"token", "user"}
    assert data["user"] == registered["user"]
    me = await api.call("GET", "/api/auth/me", bearer_of(data["token"]))
    assert me["id"] == registered["user"]["id"]


async def test_login_with_a_wrong_password_or_unknown_email_is_401_alike(api: Api) -> None:
    await api.call("POST", "/api/auth/register", expect=201, json=body())
    wrong = await api.client.post("/api/auth/login",
                                  json={"email": "ann@example.com", "password": "not it at all"})
    unknown = await api.client.post("/api/auth/login",
                                    json={"email": "nobody@example.com",
                                          "password": api.password})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.json()["detail"]
    assert "token" not in wrong.json()


async def test_me_without_a_token_is_401(api: Api) -> None:
    response = await api.client.get("/api/auth/me")
    assert response.status_code == 401
    assert response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


async def test_me_with_a_token_returns_the_caller(api: Api) -> None:
    client = await api.register("client")
    master = await api.register("master")
    assert (await api.call("GET", "/api/auth/me", client))["id"] == client.id
    me = await api.call("GET", "/api/auth/me", master)
    assert (me["id"], me["role"], me["masterId"]) == (master.id, "master", master.master_id)


async def assert_refused(api: Api, headers: dict[str, str]) -> str:
    response = await api.client.get("/api/auth/me", headers=headers)
    assert response.status_code == 401, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    return detail


async def test_malformed_tokens_are_401(api: Api) -> None:
    client = await api.register("client")
    for headers in (bearer("not-a-jwt"), bearer("a.b.c"), bearer(client.token[:-4]),
                    {"Authorization": f"Basic {client.token}"},
                    {"Authorization": client.token}):
        await assert_refused(api, headers)


async def test_a_token_signed_with_another_secret_is_401(api: Api) -> None:
    client = await api.register("client")
    now = datetime.now(UTC)
    claims = {"sub": str(client.id), "role": "client", "iat": now,
              "exp": now + timedelta(hours=1)}
    assert (await api.client.get("/api/auth/me", headers=bearer(signed(claims)))
            ).status_code == 200  # the same claims, correctly signed, pass
    await assert_refused(api, bearer(signed(claims, "another-secret-" + "y" * 40)))


async def test_an_expired_token_is_401(api: Api) -> None:
    client = await api.register("client")
    past = datetime.now(UTC) - timedelta(hours=2)
    token = signed({"sub": str(client.id), "role": "client", "iat": past,
                    "exp": past + timedelta(minutes=30)})
    detail = await assert_refused(api, bearer(token))
    assert "expired" in detail


async def test_a_token_without_expiry_or_subject_is_401(api: Api) -> None:
    client = await api.register("client")
    await assert_refused(api, bearer(signed({"sub": str(client.id), "role": "client"})))
    future = datetime.now(UTC) + timedelta(hours=1)
    await assert_refused(api, bearer(signed({"role": "client", "exp": future})))
    await assert_refused(api, bearer(signed({"sub": "not-a-number", "exp": future})))


async def test_a_token_whose_user_is_gone_is_401_once_the_user_is_no_longer_known(
        api: Api) -> None:
    api.ctx.known_users = KnownUsers(ttl_s=0.2)  # who a user is, kept this long
    client = await api.register("client")
    await api.call("GET", "/api/auth/me", client)
    async with api.ctx.db.transaction() as uow:
        await uow.orm_session().execute(delete(User).where(User.id == client.id))
    await asyncio.sleep(0.25)
    await assert_refused(api, client.headers)
    response = await api.client.get("/api/orders", headers=client.headers)
    assert response.status_code == 401
