"""One Web Push message (RFC 8030), encrypted per RFC 8291 and signed per RFC 8292 (VAPID)."""

import re
from typing import Literal

import http_ece
import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from dispatchwire.errors import ConfigurationError
from dispatchwire.push._http import failure, post
from dispatchwire.push.allowlist import EndpointRefused, HostPolicy
from dispatchwire.push.metrics import count_sent
from dispatchwire.push.results import Outcome, PushResult, outcome_of_status, retry_after_s
from dispatchwire.push.transport import guarded_client
from dispatchwire.push.vapid import VapidKey, b64url_decode

__all__ = ["MAX_PAYLOAD_BYTES", "Urgency", "WebPushSender"]

Urgency = Literal["very-low", "low", "normal", "high"]
# RFC 8291 sends one record, and push services take 4096 bytes of body: the header (salt 16,
# record size 4, key id length 1, key id 65) and the record's delimiter (1) and tag (16) go first.
MAX_PAYLOAD_BYTES = 4096 - 86 - 17
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")  # RFC 8030 5.4: at most 32 base64url characters


def encrypt(payload: bytes, *, p256dh: str, auth: str) -> bytes:
    """The aes128gcm body for a subscription's keys, with a fresh sender key per message."""
    receiver = b64url_decode(p256dh)
    secret = b64url_decode(auth)
    if len(receiver) != 65 or receiver[0] != 4 or len(secret) != 16:
        raise ValueError("the subscription's keys are not a P-256 point and a 16-byte secret")
    sender = ec.generate_private_key(ec.SECP256R1())
    body: bytes = http_ece.encrypt(payload, private_key=sender, dh=receiver, auth_secret=secret,
                                   version="aes128gcm")
    return body


class WebPushSender:
    """Sends to browsers' push services; every connection is checked against the allow-list."""

    kind = "webpush"

    def __init__(self, *, key: VapidKey, subject: str, policy: HostPolicy, timeout_s: float,
                 client: httpx.AsyncClient | None = None) -> None:
        self.key = key
        self._subject = subject
        try:  # a contact py_vapid refuses would otherwise fail every push, one by one
            key.authorization(audience="https://push.example", subject=subject)
        except ValueError as exc:
            raise ConfigurationError(
                "DISPATCHWIRE_VAPID_SUBJECT must be a mailto: address or an https:// URL, "
                "e.g. mailto:ops@example.com") from exc
        self._policy = policy
        self._timeout_s = timeout_s
        self._client = client or guarded_client(policy, timeout_s=timeout_s)

    async def send(self, *, endpoint: str, p256dh: str, auth: str, payload: bytes, ttl_s: int,
                   urgency: Urgency, topic: str | None) -> PushResult:
        """POST one encrypted message to the subscription's endpoint."""
        if topic is not None and not _TOPIC.fullmatch(topic):
            raise ValueError("a Topic is 1 to 32 characters of the base64url alphabet")
        if len(payload) > MAX_PAYLOAD_BYTES:
            return PushResult(Outcome.ERROR, detail=f"the payload is {len(payload)} bytes; "
                              f"Web Push carries at most {MAX_PAYLOAD_BYTES}")
        try:
            url = self._policy.check_url(endpoint)
            body = encrypt(payload, p256dh=p256dh, auth=auth)
            headers = self._headers(url, ttl_s=ttl_s, urgency=urgency, topic=topic)
        except ValueError as exc:  # EndpointRefused too: nothing is sent
            return PushResult(Outcome.ERROR, detail=str(exc))
        return await self._post(url, body, headers)

    def _headers(self, url: httpx.URL, *, ttl_s: int, urgency: Urgency,
                 topic: str | None) -> dict[str, str]:
        origin = f"{url.scheme}://{url.netloc.decode('ascii')}"
        headers = {
            "TTL": str(max(0, int(ttl_s))),
            "Urgency": urgency,
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "Authorization": self.key.authorization(audience=origin, subject=self._subject),
        }
        if topic is not None:
            headers["Topic"] = topic
        return headers

    async def _post(self, url: httpx.URL, body: bytes, headers: dict[str, str]) -> PushResult:
        try:
            answer = await post(self._client, url, content=body, headers=headers,
                                timeout_s=self._timeout_s)
        except EndpointRefused as exc:  # the host resolved to an internal address just now
            return PushResult(Outcome.ERROR, detail=str(exc))
        except (TimeoutError, httpx.TransportError) as exc:
            result = failure(exc, timeout_s=self._timeout_s)
        else:
            outcome = outcome_of_status(answer.status)
            result = PushResult(
                outcome, answer.status,
                retry_after_s(answer.headers.get("retry-after"))
                if outcome is Outcome.RETRY else None,
                "" if outcome is Outcome.OK else f"the push service answered {answer.status}")
        count_sent(self.kind, result.outcome)
        return result

    async def aclose(self) -> None:
        await self._client.aclose()
