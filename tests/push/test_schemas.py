"""The subscription body: its schema, and the 422 of the checks that need the network."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from dispatchwire.http.errors import install_error_handlers
from dispatchwire.push import HostPolicy, Pusher, VapidKey, WebPushSender, check_subscription
from dispatchwire.push.schemas import (
    FcmSubscriptionIn,
    SubscriptionIn,
    SubscriptionListItem,
    SubscriptionOut,
    WebPushSubscriptionIn,
)
from dispatchwire.push.vapid import b64url
from tests.push.support import Browser

BODY = TypeAdapter(SubscriptionIn)
BROWSER = Browser()
KEYS = {"p256dh": b64url(BROWSER.public_point), "auth": b64url(BROWSER.auth_secret)}


def webpush(endpoint: str = "https://fcm.googleapis.com/fcm/send/abc:def", **keys: str) -> dict:
    # What `PushSubscription.toJSON()` gives, plus `kind`.
    return {"kind": "webpush", "endpoint": endpoint, "expirationTime": None,
            "keys": {**KEYS, **keys}}


def test_a_browser_subscription_parses() -> None:
    body = BODY.validate_python(webpush())
    assert isinstance(body, WebPushSubscriptionIn)
    target = body.target()
    assert (target.kind, target.endpoint, target.p256dh, target.auth) == \
        ("webpush", "https://fcm.googleapis.com/fcm/send/abc:def", KEYS["p256dh"], KEYS["auth"])


def test_an_fcm_token_parses() -> None:
    body = BODY.validate_python({"kind": "fcm", "token": "cV4e:APA91bH-x_y.z"})
    assert isinstance(body, FcmSubscriptionIn) and body.target().token == "cV4e:APA91bH-x_y.z"


def errors(value: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(ValidationError) as refused:
        BODY.validate_python(value)
    return [(error["loc"], error["msg"]) for error in refused.value.errors()]


@pytest.mark.parametrize(("keys", "field", "why"), [
    ({"p256dh": b64url(b"\x04" + b"\x00" * 64)}, "p256dh", "on the P-256 curve"),
    ({"p256dh": b64url(BROWSER.public_point[:33])}, "p256dh", "65 bytes"),
    ({"p256dh": b64url(b"\x05" + BROWSER.public_point[1:])}, "p256dh", "0x04 first"),
    ({"p256dh": "not base64!"}, "p256dh", "pattern"),
    ({"auth": b64url(b"x" * 15)}, "auth", "16-byte"),
    ({"auth": ""}, "auth", "at least 1"),
])
def test_bad_keys_are_named(keys: dict[str, str], field: str, why: str) -> None:
    [(loc, message)] = errors(webpush(**keys))
    assert loc == ("webpush", "keys", field) and why in message


@pytest.mark.parametrize("body", [
    {"kind": "apns", "token": "x"}, {"endpoint": "https://fcm.googleapis.com/x"},
    {"kind": "fcm", "token": ""}, {"kind": "fcm", "token": "a b"},
    {"kind": "webpush", "endpoint": "https://fcm.googleapis.com/x"},
    {"kind": "fcm", "token": 5},
])
def test_malformed_bodies_are_refused(body: dict[str, Any]) -> None:
    assert errors(body)


def test_the_out_shapes_are_camel_case() -> None:
    out = SubscriptionListItem(id=1, kind="webpush", created_at=datetime(2030, 1, 1, tzinfo=UTC),
                               last_success_at=None, last_error="the push service answered 503")
    assert out.model_dump(by_alias=True, mode="json") == {
        "id": 1, "kind": "webpush", "createdAt": "2030-01-01T00:00:00.000Z",
        "lastSuccessAt": None, "lastError": "the push service answered 503"}
    assert set(SubscriptionOut.model_json_schema(by_alias=True)["properties"]) == \
        {"id", "kind", "createdAt"}


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    """A route built as the push views will be: the schema, then `check_subscription`."""
    policy = HostPolicy(("fcm.googleapis.com", "localhost"))
    pusher = Pusher(policy=policy, webpush=WebPushSender(
        key=VapidKey.generate(), subject="mailto:a@b.c", policy=policy, timeout_s=1))
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/subscriptions", status_code=201)
    async def subscribe(body: SubscriptionIn) -> dict[str, str]:
        await check_subscription(body, pusher=pusher)
        return {"kind": body.kind}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as client:
        yield client
    await pusher.aclose()


async def test_an_endpoint_off_the_list_is_a_422_naming_endpoint(
        api: httpx.AsyncClient) -> None:
    secret_path = "https://attacker.example/push/capability-token-123"
    answer = await api.post("/subscriptions", json=webpush(secret_path))
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body", "endpoint"] and "push service" in error["msg"]
    assert "capability-token-123" not in answer.text


async def test_an_endpoint_resolving_inside_is_a_422_naming_endpoint() -> None:
    policy = HostPolicy(("10.1",))
    pusher = Pusher(policy=policy, webpush=WebPushSender(
        key=VapidKey.generate(), subject="mailto:a@b.c", policy=policy, timeout_s=1))
    body = BODY.validate_python(webpush("https://10.1/push"))
    with pytest.raises(RequestValidationError) as refused:
        await check_subscription(body, pusher=pusher)
    [error] = refused.value.errors()
    assert error["loc"] == ("body", "endpoint") and "internal address" in error["msg"]
    await pusher.aclose()


async def test_an_allowed_endpoint_passes(api: httpx.AsyncClient) -> None:
    answer = await api.post("/subscriptions", json=webpush("http://localhost:9/push/1"))
    assert (answer.status_code, answer.json()) == (201, {"kind": "webpush"})


async def test_a_kind_that_is_off_is_a_422_naming_kind(api: httpx.AsyncClient) -> None:
    answer = await api.post("/subscriptions", json={"kind": "fcm", "token": "abc:def"})
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body", "kind"] and "FCM is not configured" in error["msg"]
