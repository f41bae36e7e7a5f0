"""FCM HTTP v1 against local stand-ins for FCM and for the service account's token endpoint."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from prometheus_client import REGISTRY

from dispatchwire.errors import ConfigurationError
from dispatchwire.push import HostPolicy, Outcome, Pusher, Subscription
from dispatchwire.push.fcm import load_credentials
from dispatchwire.settings import Settings
from tests.push.support import FcmService, unregistered, write_service_account

FRAME = orjson.dumps({"type": "new_assignment", "eventId": 4, "assignment": {
    "id": 9, "orderId": 2, "applianceType": "oven", "problem": "No heat",
    "address": "1 Main St", "expiresAt": "2030-01-01T00:00:00.000Z",
    "createdAt": "2030-01-01T00:00:00.000Z"}}).decode()
PHONE = Subscription(kind="fcm", token="dGVzdA:APA91b-phone_token.1")


def sent(result: str) -> float:
    return REGISTRY.get_sample_value("dispatchwire_push_sent_total",
                                     {"kind": "fcm", "result": result}) or 0.0


async def start(tmp_path: Path, fcm: FcmService) -> Pusher:
    path, fcm.public_key = write_service_account(tmp_path, f"{fcm.url}/token")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", fcm_credentials=path,
                        fcm_url=fcm.url, vapid_private_key=None, push_timeout_s=2)
    return Pusher.from_settings(settings)


@pytest.fixture
async def fcm() -> AsyncIterator[FcmService]:
    async with FcmService().running() as running:
        yield running


@pytest.fixture
async def pusher(tmp_path: Path, fcm: FcmService) -> AsyncIterator[Pusher]:
    pusher = await start(tmp_path, fcm)
    yield pusher
    await pusher.aclose()


async def test_a_data_message_with_the_frame_priority_ttl_and_collapse_key(
        fcm: FcmService, pusher: Pusher) -> None:
    before = sent("ok")
    result = await pusher.send(PHONE, FRAME, ttl_s=297, urgency="high", topic="assignment-9")
    assert (result.outcome, result.status) == (Outcome.OK, 200), fcm.refused
    [message] = fcm.messages
    assert message.token == PHONE.token
    assert message.data == {"frame": FRAME}
    assert message.android == {"priority": "HIGH", "ttl": "297s",
                               "collapse_key": "assignment-9"}
    assert sent("ok") == before + 1


async def test_a_status_update_goes_at_normal_priority(fcm: FcmService, pusher: Pusher) -> None:
    assert (await pusher.send(PHONE, FRAME, ttl_s=3600, urgency="normal", topic="order-2")).ok
    assert fcm.messages[0].android["priority"] == "NORMAL"


async def test_the_token_is_fetched_once_for_several_sends(fcm: FcmService,
                                                           pusher: Pusher) -> None:
    results = await asyncio.gather(*(
        pusher.send(PHONE, FRAME, ttl_s=60, urgency="high", topic=None) for _ in range(5)))
    results.append(await pusher.send(PHONE, FRAME, ttl_s=60, urgency="high", topic=None))
    assert all(result.ok for result in results), fcm.refused
    assert (fcm.token_requests, len(fcm.messages)) == (1, 6)


async def test_a_token_near_its_expiry_is_fetched_again(tmp_path: Path) -> None:
    # google-auth renews a few minutes before the expiry: a 60 s token is always due.
    async with FcmService(token_lifetime_s=60).running() as fcm:
        pusher = await start(tmp_path, fcm)
        try:
            for _ in range(2):
                assert (await pusher.send(PHONE, FRAME, ttl_s=60, urgency="high",
                                          topic=None)).ok
        finally:
            await pusher.aclose()
    assert fcm.token_requests == 2


async def test_a_refused_token_is_replaced_on_the_next_send(fcm: FcmService,
                                                            pusher: Pusher) -> None:
    assert (await pusher.send(PHONE, FRAME, ttl_s=60, urgency="high", topic=None)).ok
    fcm.revoke_tokens()
    refused = await pusher.send(PHONE, FRAME, ttl_s=60, urgency="high", topic=None)
    assert (refused.outcome, refused.status) == (Outcome.ERROR, 401)
    assert (await pusher.send(PHONE, FRAME, ttl_s=60, urgency="high", topic=None)).ok
    assert fcm.token_requests == 2


async def test_unregistered_means_gone(fcm: FcmService, pusher: Pusher) -> None:
    before = sent("gone")
    fcm.answers.append((404, unregistered(), {}))
    result = await pusher.send(PHONE, FRAME, ttl_s=60, urgency="high", topic=None)
    assert (result.outcome, result.status) == (Outcome.GONE, 404)
    assert "UNREGISTERED" in result.detail and sent("gone") == before + 1


async def test_a_404_without_unregistered_is_an_error_not_a_dead_token(
        fcm: FcmService, pusher: Pusher) -> None:
    fcm.answers.append((404, {"error": {"code": 404, "status": "NOT_FOUND"}}, {}))
    result = await pusher.send(PHONE, FRAME, ttl_s=60, urgency="high", topic=None)
    assert (result.outcome, result.status) == (Outcome.ERROR, 404)
    assert "NOT_FOUND" in result.detail


@pytest.mark.parametrize(("status", "headers", "expected"), [
    (429, {"Retry-After": "30"}, 30.0), (503, {}, None), (500, {"Retry-After": "2"}, 2.0),
])
async def test_quota_and_server_errors_are_retried(fcm: FcmService, pusher: Pusher, status: int,
                                                   headers: dict[str, str],
                                                   expected: float | None) -> None:
    before = sent("retry")
    fcm.answers.append((status, {"error": {"code": status}}, headers))
    result = await pusher.send(PHONE, FRAME, ttl_s=60, urgency="high", topic=None)
    assert (result.outcome, result.status, result.retry_after_s) == \
        (Outcome.RETRY, status, expected)
    assert sent("retry") == before + 1


async def test_a_token_endpoint_refusing_the_account_is_an_error_and_no_push(
        tmp_path: Path, fcm: FcmService) -> None:
    pusher = await start(tmp_path, fcm)
    # The token endpoint knows another key than the one the account signs with.
    fcm.public_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    try:
        result = await pusher.send(PHONE, FRAME, ttl_s=60, urgency="high", topic=None)
    finally:
        await pusher.aclose()
    assert result.outcome is Outcome.ERROR and "OAuth token endpoint" in result.detail
    assert fcm.token_requests == 1 and fcm.sends == 0
    assert "InvalidSignatureError" in fcm.refused[0]


async def test_an_unreachable_token_endpoint_is_retried(tmp_path: Path) -> None:
    async with FcmService().running() as fcm:
        pusher = await start(tmp_path, fcm)
    try:  # both stand-ins are gone now
        result = await pusher.send(PHONE, FRAME, ttl_s=60, urgency="high", topic=None)
    finally:
        await pusher.aclose()
    assert result.outcome is Outcome.RETRY


def test_unusable_credentials_are_refused_at_start_without_echoing_them(tmp_path: Path) -> None:
    path = tmp_path / "sa.json"
    path.write_text('{"type": "service_account", "private_key": "s3cret-material"}')
    with pytest.raises(ConfigurationError) as refused:
        load_credentials(path)
    assert "service-account JSON" in str(refused.value)
    assert "s3cret-material" not in str(refused.value)
    with pytest.raises(ConfigurationError, match="not a readable"):
        load_credentials(tmp_path / "missing.json")


async def test_fcm_off_without_credentials() -> None:
    pusher = Pusher(policy=HostPolicy(()))
    result = await pusher.send(PHONE, FRAME, ttl_s=60, urgency="high", topic=None)
    assert result.outcome is Outcome.ERROR and "FCM is off" in result.detail
