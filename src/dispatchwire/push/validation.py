"""The checks of a subscription body that need the settings or the network (async)."""

from typing import Any

from fastapi.exceptions import RequestValidationError

from dispatchwire.push.allowlist import EndpointRefused
from dispatchwire.push.schemas import FcmSubscriptionIn, WebPushSubscriptionIn
from dispatchwire.push.sender import Pusher

__all__ = ["check_subscription"]


def _refused(field: str, message: str) -> RequestValidationError:
    """A 422 shaped like a schema's: it names the field and never echoes its value."""
    error: dict[str, Any] = {"type": "value_error", "loc": ("body", field), "msg": message}
    return RequestValidationError([error])


async def check_subscription(body: WebPushSubscriptionIn | FcmSubscriptionIn, *,
                             pusher: Pusher, timeout_s: float = 5.0) -> None:
    """Refuse (422) a kind this server cannot push, or an endpoint outside the allow-list."""
    if isinstance(body, FcmSubscriptionIn):
        if pusher.fcm is None:
            raise _refused("kind", "FCM is not configured on this server")
        return
    if pusher.webpush is None:
        raise _refused("kind", "Web Push is not configured on this server (no VAPID key)")
    try:
        await pusher.policy.check(body.endpoint, timeout_s=timeout_s)
    except EndpointRefused as exc:
        raise _refused("endpoint", str(exc)) from exc
