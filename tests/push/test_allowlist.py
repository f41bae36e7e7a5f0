"""The SSRF boundary: names, schemes and resolved addresses, at subscription and at send time."""

import asyncio
import socket
from dataclasses import replace

import pytest
from prometheus_client import REGISTRY

from dispatchwire.push import EndpointRefused, HostPolicy, Outcome, Pusher, VapidKey
from dispatchwire.push.webpush import WebPushSender
from dispatchwire.settings import Settings
from tests.push.support import WebPushService

DEFAULT = HostPolicy(Settings().push_hosts)


@pytest.mark.parametrize("endpoint", [
    "https://fcm.googleapis.com/fcm/send/abc",  # Chrome
    "https://updates.push.services.mozilla.com/wpush/v2/abc",  # Firefox
    "https://wns2-par02p.notify.windows.com/w/?token=abc",  # Edge
    "https://web.push.apple.com/QGx1c2VyLWlk",  # Safari
    "https://FCM.googleapis.com./fcm/send/abc",  # case and the root's dot change nothing
])
def test_the_browsers_push_services_are_allowed_by_default(endpoint: str) -> None:
    DEFAULT.check_url(endpoint)


@pytest.mark.parametrize(("endpoint", "why"), [
    ("https://attacker.net/push", "not a push service"),
    ("https://evilfcm.googleapis.com.attacker.net/x", "not a push service"),
    ("https://notfcm.googleapis.com/x", "not a push service"),
    ("https://fcm.googleapis.com.attacker.net/x", "not a push service"),
    ("https://googleapis.com/x", "not a push service"),
    ("https://fcm.googleapis.com@attacker.net/x", "user name"),
    ("https://attacker.net\\@fcm.googleapis.com/x", "user name"),
    ("https://attacker.net#@fcm.googleapis.com", "not a push service"),
    ("http://fcm.googleapis.com/fcm/send/abc", "must be https"),
    ("ftp://fcm.googleapis.com/x", "must be an https"),
    ("https://169.254.169.254/latest/meta-data", "not a push service"),
    ("https:///nohost", "not a push service"),
    ("https://fcm.googleapis.com:99999/x", "port"),
    ("not a url at all", "must be an https"),
    ("https://" + "a" * 2100 + ".fcm.googleapis.com/", "longer than"),
])
def test_what_is_refused_by_name(endpoint: str, why: str) -> None:
    with pytest.raises(EndpointRefused, match=why) as refused:
        DEFAULT.check_url(endpoint)
    assert "attacker" not in str(refused.value)  # the message never echoes the endpoint


def test_an_ip_literal_matches_only_when_named_exactly() -> None:
    policy = HostPolicy(("0.0.1", "203.0.113.9"))
    with pytest.raises(EndpointRefused):
        policy.check_url("https://127.0.0.1/x")  # ends in ".0.0.1", but is no subdomain
    policy.check_url("https://203.0.113.9/x")


def test_http_only_for_a_loopback_host_the_list_names() -> None:
    HostPolicy(("localhost",)).check_url("http://localhost:8080/push")
    HostPolicy(("127.0.0.1",)).check_url("http://127.0.0.1:8080/push")
    HostPolicy(("::1",)).check_url("http://[::1]:8080/push")
    with pytest.raises(EndpointRefused, match="must be https"):
        HostPolicy(("push.example",)).check_url("http://push.example/push")
    with pytest.raises(EndpointRefused, match="not a push service"):
        DEFAULT.check_url("http://localhost:8080/push")  # loopback, but not named
    with pytest.raises(EndpointRefused, match="must be https"):
        HostPolicy(("localhost",)).check_url("http://a.localhost:8080/push")  # a suffix only


@pytest.mark.parametrize(("address", "public"), [
    ("8.8.8.8", True), ("2001:4860:4860::8888", True),
    ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False), ("127.0.0.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False),
    ("224.0.0.1", False), ("240.0.0.1", False), ("::1", False), ("fe80::1%eth0", False),
    ("fc00::1", False), ("::ffff:10.0.0.1", False), ("::ffff:127.0.0.1", False),
])
def test_only_public_addresses_pass(address: str, public: bool) -> None:
    if public:
        DEFAULT.check_addresses("push.example", [address])
    else:
        with pytest.raises(EndpointRefused, match="internal address"):
            DEFAULT.check_addresses("push.example", [address])


def test_one_internal_address_among_public_ones_is_enough_to_refuse() -> None:
    with pytest.raises(EndpointRefused):
        DEFAULT.check_addresses("push.example", ["8.8.8.8", "10.0.0.1"])


async def test_a_named_loopback_host_resolving_to_loopback_is_allowed() -> None:
    await HostPolicy(("localhost",)).check("https://localhost/push/1")
    await HostPolicy(("localhost",)).check("http://localhost:1/push/1")


@pytest.mark.parametrize(("host", "address"), [("127.1", "127.0.0.1"), ("10.1", "10.0.0.1"),
                                               ("2130706433", "127.0.0.1")])
async def test_a_hostname_resolving_to_an_internal_address_is_refused(host: str,
                                                                      address: str) -> None:
    # Short and decimal forms are host names to a URL parser, but the system's resolver
    # turns them into these addresses: the name passes the list, the address does not.
    policy = HostPolicy((host,))
    policy.check_url(f"https://{host}/push")
    assert await _resolves(host) == [address]
    with pytest.raises(EndpointRefused, match="internal address"):
        await policy.check(f"https://{host}/push")


async def test_a_host_that_does_not_resolve_is_refused_at_subscription() -> None:
    with pytest.raises(EndpointRefused, match="does not resolve"):
        await HostPolicy(("invalid",)).check("https://push.invalid/x")


async def test_the_sender_checks_the_address_again_when_it_connects() -> None:
    """A name allowed at subscription that now resolves inside: no request leaves."""
    key = VapidKey.generate()
    before = REGISTRY.get_sample_value("dispatchwire_push_sent_total",
                                       {"kind": "webpush", "result": "error"}) or 0.0
    async with WebPushService(key.public_key).running(host="127.0.0.1") as service:
        subscription = service.subscribe()
        port = service.url.rsplit(":", 1)[1]
        policy = HostPolicy(("127.1",))  # 127.1 resolves to 127.0.0.1, where the service is
        pusher = Pusher(policy=policy, webpush=WebPushSender(
            key=key, subject="mailto:a@example.com", policy=policy, timeout_s=2))
        endpoint = subscription.endpoint.replace(f"http://127.0.0.1:{port}",
                                                 f"https://127.1:{port}")
        try:
            result = await pusher.send(replace(subscription, endpoint=endpoint), "{}", ttl_s=60,
                                       urgency="high", topic=None)
        finally:
            await pusher.aclose()
        assert result.outcome is Outcome.ERROR and "internal address" in result.detail
        assert service.requests == 0
    after = REGISTRY.get_sample_value("dispatchwire_push_sent_total",
                                      {"kind": "webpush", "result": "error"}) or 0.0
    assert after == before  # no request was made to a push service


async def test_the_sender_refuses_a_host_off_the_list_at_send_time() -> None:
    key = VapidKey.generate()
    async with WebPushService(key.public_key).running() as service:
        subscription = service.subscribe()
        policy = HostPolicy(("push.example",))  # the list changed since the subscription
        pusher = Pusher(policy=policy, webpush=WebPushSender(
            key=key, subject="mailto:a@example.com", policy=policy, timeout_s=2))
        try:
            result = await pusher.send(subscription, "{}", ttl_s=60, urgency="high",
                                       topic=None)
        finally:
            await pusher.aclose()
        assert result.outcome is Outcome.ERROR and service.requests == 0


async def _resolves(host: str) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, 443, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})
