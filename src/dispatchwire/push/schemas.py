"""The push endpoints' JSON bodies (DESIGN.md, "Push when the socket is not there")."""

from typing import Annotated, Literal

from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import Field, StringConstraints, field_validator

from dispatchwire.push.allowlist import MAX_ENDPOINT_LENGTH
from dispatchwire.push.sender import Subscription
from dispatchwire.push.vapid import b64url_decode
from dispatchwire.schemas import CamelModel, Timestamp

__all__ = [
    "FcmSubscriptionIn", "SubscriptionIn", "SubscriptionListItem", "SubscriptionOut",
    "VapidPublicKeyOut", "WebPushKeys", "WebPushSubscriptionIn",
]

# Keys are base64url text; a little slack over the exact lengths for padding.
B64Url = Annotated[str, StringConstraints(min_length=1, max_length=100,
                                          pattern=r"^[A-Za-z0-9_-]+={0,2}$")]


class WebPushKeys(CamelModel):
    """A browser's subscription keys: its P-256 public key and its 16-byte auth secret."""

    p256dh: B64Url
    auth: B64Url

    @field_validator("p256dh")
    @classmethod
    def _p256dh(cls, value: str) -> str:
        raw = b64url_decode(value)
        if len(raw) != 65 or raw[0] != 4:
            raise ValueError("expected base64url of an uncompressed P-256 point (65 bytes, "
                             "0x04 first)")
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
        except ValueError as exc:
            raise ValueError("expected a point on the P-256 curve") from exc
        return value.rstrip("=")

    @field_validator("auth")
    @classmethod
    def _auth(cls, value: str) -> str:
        if len(b64url_decode(value)) != 16:
            raise ValueError("expected base64url of a 16-byte secret")
        return value.rstrip("=")


class WebPushSubscriptionIn(CamelModel):
    """`PushSubscription.toJSON()` plus `kind` (its `expirationTime` is ignored)."""

    kind: Literal["webpush"]
    endpoint: str = Field(min_length=1, max_length=MAX_ENDPOINT_LENGTH,
                          description="https:// on an allowed push service host")
    keys: WebPushKeys

    def target(self) -> Subscription:
        return Subscription(kind="webpush", endpoint=self.endpoint, p256dh=self.keys.p256dh,
                            auth=self.keys.auth)


class FcmSubscriptionIn(CamelModel):
    """An Android app's FCM registration token."""

    kind: Literal["fcm"]
    token: str = Field(min_length=1, max_length=4096, pattern=r"^[A-Za-z0-9_:.-]+$")

    def target(self) -> Subscription:
        return Subscription(kind="fcm", token=self.token)


SubscriptionIn = Annotated[WebPushSubscriptionIn | FcmSubscriptionIn,
                           Field(discriminator="kind")]


class SubscriptionOut(CamelModel):
    """201/200 `POST /api/push/subscriptions`."""

    id: int
    kind: Literal["webpush", "fcm"]
    created_at: Timestamp


class SubscriptionListItem(SubscriptionOut):
    """`GET /api/push/subscriptions`: the caller's own, with how the last pushes went."""

    last_success_at: Timestamp | None
    last_error: str | None


class VapidPublicKeyOut(CamelModel):
    """`GET /api/push/vapid-public-key`."""

    public_key: str
