"""The facade over both senders: one push to one subscription, whatever its kind."""

from dataclasses import dataclass
from typing import Protocol

from dispatchwire.push.allowlist import HostPolicy
from dispatchwire.push.fcm import FcmSender, load_credentials
from dispatchwire.push.results import Outcome, PushResult
from dispatchwire.push.vapid import resolve_vapid_key
from dispatchwire.push.webpush import Urgency, WebPushSender
from dispatchwire.settings import Settings

__all__ = ["PushTarget", "Pusher", "Subscription"]


class PushTarget(Protocol):
    """What a push needs of a subscription (a database row fits): Web Push or FCM fields."""

    @property
    def kind(self) -> str: ...
    @property
    def endpoint(self) -> str | None: ...
    @property
    def p256dh(self) -> str | None: ...
    @property
    def auth(self) -> str | None: ...
    @property
    def token(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Subscription:
    """A PushTarget by value: `kind` "webpush" with endpoint and keys, or "fcm" with a token."""

    kind: str
    endpoint: str | None = None
    p256dh: str | None = None
    auth: str | None = None
    token: str | None = None


class Pusher:
    """Sends one push and reports its PushResult; knows nothing of databases or events."""

    def __init__(self, *, policy: HostPolicy, webpush: WebPushSender | None = None,
                 fcm: FcmSender | None = None) -> None:
        self.policy = policy
        self.webpush = webpush
        self.fcm = fcm

    @classmethod
    def from_settings(cls, settings: Settings) -> "Pusher":
        """Web Push when there is a VAPID key, FCM when there are credentials (else off)."""
        policy = HostPolicy.from_settings(settings)
        key = resolve_vapid_key(settings)
        webpush = None if key is None else WebPushSender(
            key=key, subject=settings.vapid_subject, policy=policy,
            timeout_s=settings.push_timeout_s)
        fcm = None if settings.fcm_credentials is None else FcmSender(
            credentials=load_credentials(settings.fcm_credentials), base_url=settings.fcm_url,
            timeout_s=settings.push_timeout_s)
        return cls(policy=policy, webpush=webpush, fcm=fcm)

    @property
    def vapid_public_key(self) -> str | None:
        """The browser's `applicationServerKey`, or None when Web Push is off."""
        return None if self.webpush is None else self.webpush.key.public_key

    async def send(self, subscription: PushTarget, frame_text: str, *, ttl_s: int,
                   urgency: Urgency, topic: str | None) -> PushResult:
        """Push `frame_text` (a frame's JSON) to one subscription; never raises for its answer."""
        if subscription.kind == "webpush":
            return await self._webpush(subscription, frame_text, ttl_s=ttl_s, urgency=urgency,
                                       topic=topic)
        if subscription.kind == "fcm":
            if self.fcm is None:
                return PushResult(Outcome.ERROR, detail="FCM is off: no FCM credentials")
            if not subscription.token:
                return PushResult(Outcome.ERROR, detail="the FCM subscription has no token")
            return await self.fcm.send(token=subscription.token, frame_text=frame_text,
                                       ttl_s=ttl_s, collapse_key=topic,
                                       high_priority=urgency == "high")
        return PushResult(Outcome.ERROR, detail=f"unknown subscription kind {subscription.kind!r}")

    async def _webpush(self, subscription: PushTarget, frame_text: str, *, ttl_s: int,
                       urgency: Urgency, topic: str | None) -> PushResult:
        if self.webpush is None:
            return PushResult(Outcome.ERROR, detail="Web Push is off: no VAPID key")
        if not (subscription.endpoint and subscription.p256dh and subscription.auth):
            return PushResult(Outcome.ERROR, detail="the Web Push subscription is incomplete")
        return await self.webpush.send(
            endpoint=subscription.endpoint, p256dh=subscription.p256dh, auth=subscription.auth,
            payload=frame_text.encode(), ttl_s=ttl_s, urgency=urgency, topic=topic)

    async def aclose(self) -> None:
        """Close both senders' connections."""
        for sender in (self.webpush, self.fcm):
            if sender is not None:
                await sender.aclose()
