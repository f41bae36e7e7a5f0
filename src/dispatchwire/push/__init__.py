"""Push when the socket is not there: send one message to one subscription, report the result.

This package is the layer beneath the delivery logic (which push is due, the durable queue,
retries, deleting gone subscriptions): it sends, it never stores, and it knows no events.

    pusher = Pusher.from_settings(settings)      # at startup; ConfigurationError if unusable
    pusher.vapid_public_key                      # str for GET /api/push/vapid-public-key,
                                                 # None when Web Push is off (answer 404)
    result = await pusher.send(subscription, frame_text, ttl_s=42, urgency="high",
                               topic="assignment-7")
    result.outcome                               # Outcome.OK | GONE | RETRY | ERROR
    result.retry_after_s                         # the service's Retry-After (RETRY), or None
    result.status, result.detail                 # HTTP status; a sentence for `lastError`
    await pusher.aclose()                        # at shutdown

- `subscription` is any `PushTarget`: an object with `kind` ("webpush" or "fcm"),
  `endpoint`, `p256dh`, `auth` (Web Push) and `token` (FCM); a database row fits, and so does
  `Subscription(...)` or a validated body's `.target()`.
- `send` never raises for what a push service answers (a wrong Topic, a caller's bug, is a
  ValueError). Outcomes: `ok` 2xx; `gone` 404/410 (FCM: UNREGISTERED only), delete the
  subscription; `retry` 429, 5xx, a timeout (`DISPATCHWIRE_PUSH_TIMEOUT_S`, 5 s for the whole
  exchange) or a broken connection; `error` anything else, a redirect included (never
  followed), an endpoint the allow-list refuses, a payload over `MAX_PAYLOAD_BYTES`, or a kind
  that is off. Each request made to a push service counts once in
  `dispatchwire_push_sent_total{kind, result}`.
- Web Push (`webpush.py`): aes128gcm (RFC 8291, `http-ece`) with a fresh key per message,
  VAPID (RFC 8292, `py-vapid`) signed by the key of `vapid.py`: `DISPATCHWIRE_VAPID_PRIVATE_KEY`
  (PEM or base64url), else `<sqlite file>.vapid-key` (made once, mode 0600), else off.
  Headers `TTL`, `Urgency`, `Topic` as given.
- FCM (`fcm.py`): HTTP v1 at `DISPATCHWIRE_FCM_URL`, OAuth token from the service account of
  `DISPATCHWIRE_FCM_CREDENTIALS` (`google-auth`, at its `token_uri`), cached until near expiry;
  `data.frame` = the frame's JSON text, android priority HIGH (NORMAL unless urgency "high"),
  `ttl`, `collapse_key` = the topic.
- The allow-list (`allowlist.py`, `HostPolicy`), the SSRF boundary: names and resolved
  addresses, checked when a subscription is made (`check_subscription`, a 422 naming
  `endpoint` or `kind`) and on every connection the Web Push client opens (`transport.py`).
- Bodies (`schemas.py`): `SubscriptionIn` (discriminated on `kind`), `SubscriptionOut`,
  `SubscriptionListItem`, `VapidPublicKeyOut`.
"""

from dispatchwire.push.allowlist import EndpointRefused, HostPolicy
from dispatchwire.push.fcm import FcmSender
from dispatchwire.push.metrics import PUSH_SENT
from dispatchwire.push.results import Outcome, PushResult
from dispatchwire.push.sender import Pusher, PushTarget, Subscription
from dispatchwire.push.validation import check_subscription
from dispatchwire.push.vapid import VapidKey, resolve_vapid_key
from dispatchwire.push.webpush import MAX_PAYLOAD_BYTES, Urgency, WebPushSender

__all__ = [
    "MAX_PAYLOAD_BYTES", "PUSH_SENT", "EndpointRefused", "FcmSender", "HostPolicy", "Outcome",
    "PushResult", "PushTarget", "Pusher", "Subscription", "Urgency", "VapidKey", "WebPushSender",
    "check_subscription", "resolve_vapid_key",
]
