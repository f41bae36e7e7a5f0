"""The client's token: where it comes from, when it runs out, and one refresh at a time."""

import asyncio
import base64
import binascii
import json
import time
from collections.abc import Awaitable, Callable

from dispatchwire.client._errors import AuthError

__all__ = ["TokenProvider", "Tokens", "expiry_of"]

TokenProvider = Callable[[], Awaitable[str]]
"""An async function that returns a fresh JWT of the same user (for example by logging in)."""

# Refresh a token when a quarter of its life is left, but not more than a minute early: a
# 12-hour token is renewed a minute before it runs out, a 4-second one (tests) after 3 s.
_LEAD_FRACTION, _LEAD_MAX = 0.25, 60.0


def _claim(token: str, name: str) -> float | None:
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims[name])
    except (IndexError, ValueError, KeyError, TypeError, binascii.Error):
        return None


def expiry_of(token: str) -> float | None:
    """The `exp` claim of a JWT, in seconds since the epoch, read without verifying it (the
    server verifies; the client only wants to know when to renew it)."""
    return _claim(token, "exp")


class Tokens:
    """Holds the current token and renews it through the provider, one renewal at a time."""

    def __init__(self, provider: TokenProvider | None, token: str | None = None) -> None:
        self._provider = provider
        self._token = token
        self._obtained_at = time.time()
        self._lock = asyncio.Lock()

    @property
    def token(self) -> str | None:
        return self._token

    async def current(self) -> str:
        """The token, obtaining one first when there is none or it is about to run out."""
        token = self._token
        if token is None or self.seconds_left(token) < 1.0:
            return await self.refresh(stale=token)
        return token

    async def refresh(self, *, stale: str | None) -> str:
        """A token other than `stale`: the one another caller just obtained, or a new one."""
        async with self._lock:  # many callers may find the same token refused at once
            if self._token is not None and self._token != stale:
                return self._token
            if self._provider is None:
                raise AuthError("-", "token", 401, "the token was refused or has run out, "
                                "and no email and password or token provider was given")
            self._token = await self._provider()
            self._obtained_at = time.time()
            return self._token

    def seconds_left(self, token: str) -> float:
        """Seconds until `token` runs out (infinite when it does not say)."""
        expiry = expiry_of(token)
        return float("inf") if expiry is None else expiry - time.time()

    def renew_in(self, token: str) -> float | None:
        """Seconds from now until `token` should be renewed, or None if it never runs out."""
        expiry = expiry_of(token)
        if expiry is None:
            return None
        issued = _claim(token, "iat") or self._obtained_at
        lifetime = max(0.0, expiry - issued)
        lead = min(_LEAD_MAX, lifetime * _LEAD_FRACTION)
        return max(0.0, expiry - lead - time.time())
