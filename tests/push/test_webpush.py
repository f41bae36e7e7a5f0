"""Web Push against a local push service that verifies VAPID and decrypts like a browser."""

import email.utils
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from prometheus_client import REGISTRY

from dispatchwire.errors import ConfigurationError
from dispatchwire.push import HostPolicy, Outcome, Pusher, VapidKey, WebPushSender
from dispatchwire.push.transport import guarded_client
from dispatchwire.push.webpush import MAX_PAYLOAD_BYTES
from dispatchwire.settings import Settings
from tests.push.support import Answer, Certificate, RedirectTarget, WebPushService

FRAME = orjson.dumps({"type": "new_assignment", "eventId": 7, "assignment": {
    "id": 3, "orderId": 5, "applianceType": "oven", "problem": "Door stuck — «дверь»",
    "address": "12 Baker St", "expiresAt": "2030-01-01T00:00:00.000Z",
    "createdAt": "2030-01-01T00:00:00.000Z"}}).decode()
SUBJECT = "mailto:ops@example.com"


def sent(result: str) -> float:
    return REGISTRY.get_sample_value("dispatchwire_push_sent_total",
                                     {"kind": "webpush", "result": result}) or 0.0


def make_pusher(key: VapidKey, *, hosts: tuple[str, ...] = ("localhost",),
                timeout_s: float = 5.0) -> Pusher:
    policy = HostPolicy(hosts)
    sender = WebPushSender(key=key, subject=SUBJECT, policy=policy, timeout_s=timeout_s)
    return Pusher(policy=policy, webpush=sender)


@pytest.fixture
def key() -> VapidKey:
    return VapidKey.generate()


@pytest.fixture
async def service(key: VapidKey) -> AsyncIterator[WebPushService]:
    async with WebPushService(key.public_key).running() as running:
        yield running


@pytest.fixture
async def pusher(key: VapidKey) -> AsyncIterator[Pusher]:
    pusher = make_pusher(key)
    yield pusher
    await pusher.aclose()


async def test_the_decrypted_payload_is_the_frame_with_the_callers_headers(
        service: WebPushService, pusher: Pusher) -> None:
    before = sent("ok")
    result = await pusher.send(service.subscribe(), FRAME, ttl_s=297, urgency="high",
                               topic="assignment-3")
    assert (result.outcome, result.status) == (Outcome.OK, 201), (result, service.refused)
    [hit] = service.hits
    assert hit.plaintext.decode() == FRAME
    assert (hit.headers["ttl"], hit.headers["urgency"], hit.headers["topic"]) == \
        ("297", "high", "assignment-3")
    assert hit.headers["content-encoding"] == "aes128gcm"
    assert hit.claims["aud"] == service.url and hit.claims["sub"] == SUBJECT
    assert time.time() < hit.claims["exp"] <= time.time() + 24 * 3600
    assert sent("ok") == before + 1


async def test_every_message_has_its_own_encryption(service: WebPushService,
                                                    pusher: Pusher) -> None:
    subscription = service.subscribe()
    for ttl in (60, 3600):
        result = await pusher.send(subscription, FRAME, ttl_s=ttl, urgency="normal", topic=None)
        assert result.ok
    first, second = service.hits
    assert first.plaintext == second.plaintext
    assert "topic" not in first.headers and first.headers["urgency"] == "normal"


async def test_a_signature_by_another_key_is_refused_by_the_service(
        service: WebPushService) -> None:
    impostor = make_pusher(VapidKey.generate())
    try:
        result = await impostor.send(service.subscribe(), FRAME, ttl_s=60, urgency="high",
                                     topic=None)
    finally:
        await impostor.aclose()
    assert (result.outcome, result.status) == (Outcome.ERROR, 400)
    assert service.hits == [] and "not the server's public key" in service.refused[0]


@pytest.mark.parametrize("status", [404, 410])
async def test_404_and_410_mean_gone(service: WebPushService, pusher: Pusher,
                                     status: int) -> None:
    before = sent("gone")
    result = await pusher.send(service.subscribe(Answer(status)), FRAME, ttl_s=60,
                               urgency="high", topic=None)
    assert (result.outcome, result.status, result.retry_after_s) == (Outcome.GONE, status, None)
    assert sent("gone") == before + 1


@pytest.mark.parametrize(("status", "retry_after", "expected"), [
    (503, "7", 7.0), (429, "120", 120.0), (503, None, None), (500, "soon", None),
])
async def test_429_and_5xx_mean_retry_with_the_services_retry_after(
        service: WebPushService, pusher: Pusher, status: int, retry_after: str | None,
        expected: float | None) -> None:
    before = sent("retry")
    headers = {"Retry-After": retry_after} if retry_after else {}
    result = await pusher.send(service.subscribe(Answer(status, headers)), FRAME, ttl_s=60,
                               urgency="high", topic=None)
    assert (result.outcome, result.status, result.retry_after_s) == \
        (Outcome.RETRY, status, expected)
    assert sent("retry") == before + 1


async def test_retry_after_as_an_http_date(service: WebPushService, pusher: Pusher) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    result = await pusher.send(service.subscribe(Answer(429, {"Retry-After": when})), FRAME,
                               ttl_s=60, urgency="high", topic=None)
    assert result.outcome is Outcome.RETRY
    assert result.retry_after_s is not None and 27 <= result.retry_after_s <= 30


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_never_followed(service: WebPushService, pusher: Pusher,
                                            status: int) -> None:
    before = sent("error")
    async with RedirectTarget().running() as target:
        answer = Answer(status, {"Location": f"{target.url}/push/elsewhere"})
        result = await pusher.send(service.subscribe(answer), FRAME, ttl_s=60, urgency="high",
                                   topic=None)
        assert (result.outcome, result.status) == (Outcome.ERROR, status)
        assert target.requests == 0
    assert len(service.hits) == 1 and sent("error") == before + 1


async def test_other_answers_are_errors(service: WebPushService, pusher: Pusher) -> None:
    result = await pusher.send(service.subscribe(Answer(413)), FRAME, ttl_s=60, urgency="high",
                               topic=None)
    assert (result.outcome, result.status) == (Outcome.ERROR, 413)
    assert "413" in result.detail


async def test_a_slow_service_is_given_up_on_and_retried(service: WebPushService,
                                                         key: VapidKey) -> None:
    before = sent("retry")
    quick = make_pusher(key, timeout_s=0.3)
    started = time.monotonic()
    try:
        result = await quick.send(service.subscribe(Answer(201, delay_s=1.5)), FRAME,
                                  ttl_s=60, urgency="high", topic=None)
    finally:
        await quick.aclose()
    assert result.outcome is Outcome.RETRY and result.status is None
    assert "0.3 s" in result.detail
    assert time.monotonic() - started < 1.2
    assert sent("retry") == before + 1


async def test_a_service_that_is_not_there_is_retried(key: VapidKey) -> None:
    service = WebPushService(key.public_key)
    async with service.running():
        subscription = service.subscribe()
    pusher = make_pusher(key)  # the service has stopped: nothing listens on its port
    try:
        result = await pusher.send(subscription, FRAME, ttl_s=60, urgency="high", topic=None)
    finally:
        await pusher.aclose()
    assert result.outcome is Outcome.RETRY and "connection failed" in result.detail


async def test_a_payload_too_big_for_one_record_is_not_sent(service: WebPushService,
                                                            pusher: Pusher) -> None:
    fits = '"' + "x" * (MAX_PAYLOAD_BYTES - 2) + '"'
    assert (await pusher.send(service.subscribe(), fits, ttl_s=60, urgency="high",
                              topic=None)).ok
    assert service.hits[0].plaintext.decode() == fits
    result = await pusher.send(service.subscribe(), fits + " ", ttl_s=60, urgency="high",
                               topic=None)
    assert result.outcome is Outcome.ERROR and "at most 3993" in result.detail
    assert service.requests == 1


async def test_a_topic_outside_rfc_8030_is_a_callers_error(service: WebPushService,
                                                           pusher: Pusher) -> None:
    with pytest.raises(ValueError, match="Topic"):
        await pusher.send(service.subscribe(), FRAME, ttl_s=60, urgency="high",
                          topic="assignment 3")
    assert service.requests == 0


async def test_web_push_off_without_a_key() -> None:
    pusher = Pusher(policy=HostPolicy(("localhost",)))
    assert pusher.vapid_public_key is None
    result = await pusher.send(WebPushService(None).subscribe(), FRAME, ttl_s=1,
                               urgency="high", topic=None)
    assert result.outcome is Outcome.ERROR and "Web Push is off" in result.detail


async def test_from_the_settings_with_the_kept_key(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'dw.db'}",
                        push_allowed_hosts="localhost")
    pusher = Pusher.from_settings(settings)
    assert pusher.vapid_public_key is not None and pusher.fcm is None
    async with WebPushService(pusher.vapid_public_key).running() as service:
        try:
            result = await pusher.send(service.subscribe(), FRAME, ttl_s=5, urgency="high",
                                       topic="assignment-3")
        finally:
            await pusher.aclose()
    assert result.ok, service.refused
    assert service.hits[0].claims["sub"] == settings.vapid_subject


def test_a_contact_that_vapid_refuses_stops_the_start(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'dw.db'}",
                        vapid_subject="mailto:nobody")
    with pytest.raises(ConfigurationError, match="DISPATCHWIRE_VAPID_SUBJECT"):
        Pusher.from_settings(settings)


async def test_over_tls_the_certificate_is_checked_for_the_endpoints_name(
        tmp_path: Path, key: VapidKey) -> None:
    """The socket goes to a checked address, but TLS still verifies the host's name."""
    for name, expected in (("localhost", Outcome.OK), ("push.example", Outcome.RETRY)):
        certificate = Certificate.make(tmp_path, name)
        policy = HostPolicy(("localhost",))
        client = guarded_client(policy, timeout_s=5, verify=certificate.client_context())
        pusher = Pusher(policy=policy, webpush=WebPushSender(
            key=key, subject=SUBJECT, policy=policy, timeout_s=5, client=client))
        async with WebPushService(key.public_key).running(tls=certificate) as service:
            try:
                result = await pusher.send(service.subscribe(), FRAME, ttl_s=60,
                                           urgency="high", topic=None)
            finally:
                await pusher.aclose()  # before the service stops: it waits for open sockets
        assert result.outcome is expected, (name, result)
        assert len(service.hits) == (1 if expected is Outcome.OK else 0)
        if service.hits:
            assert service.hits[0].plaintext.decode() == FRAME
            assert service.hits[0].claims["aud"] == service.url  # https://localhost:port
