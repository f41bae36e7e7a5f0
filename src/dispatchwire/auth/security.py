"""Password hashing (argon2), access tokens (JWT, HS256) and a brake on password guessing."""

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dispatchwire.clock import utcnow
from dispatchwire.errors import TooManyRequests, Unauthorized
from dispatchwire.schemas import MAX_ID

__all__ = ["KnownUsers", "LoginBrake", "Passwords", "Tokens"]

ALGORITHM = "HS256"


class Passwords:
    """Argon2id hashing, run in a worker thread: a hash costs ~100 ms of CPU."""

    def __init__(self, *, time_cost: int, memory_kib: int) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
        self._dummy = self._hasher.hash("no such user")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Check `password`; with no hash, spend the same time so that timing reveals nothing."""
        try:
            return await asyncio.to_thread(self._hasher.verify, password_hash or self._dummy,
                                           password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False


class Tokens:
    """Issues and checks access tokens.

    A token's signature is checked once; its claims are then kept (a bounded number of them),
    since every request and socket shows its token again and PyJWT takes ~30 µs to decode one.
    The expiry is still checked at every use. Only tokens that passed the check are kept, keyed
    by their whole text: a token altered in any byte is checked anew.

    Tokens are signed with `secret`; those signed with one of `previous_secrets` (a rotation
    under way) are accepted too, until they expire.
    """

    CACHED = 16_384

    def __init__(self, *, secret: str, ttl_s: int, previous_secrets: Sequence[str] = ()) -> None:
        self._secret = secret
        self._accepted = (secret, *previous_secrets)
        self._ttl = timedelta(seconds=ttl_s)
        self._checked: dict[str, tuple[int, float]] = {}  # token -> (user id, expiry)

    def issue(self, *, user_id: int, role: str) -> str:
        now = utcnow()
        claims = {"sub": str(user_id), "role": role, "iat": now, "exp": now + self._ttl}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def expires_at(self, token: str) -> float:
        """When a token runs out, in seconds since the epoch; Unauthorized if it already has."""
        return self._check(token)[1]

    def user_id(self, token: str) -> int:
        """The user id a valid token names; Unauthorized for anything else."""
        return self._check(token)[0]

    def _check(self, token: str) -> tuple[int, float]:
        claims = self._checked.get(token) or self._decode(token)
        if claims[1] <= time.time():  # as PyJWT judges `exp`, without leeway
            raise Unauthorized("token has expired: log in again")
        return claims

    def _decode(self, token: str) -> tuple[int, float]:
        try:
            claims = self._verified_claims(token)
            user_id, expires_at = int(claims["sub"]), float(claims["exp"])
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token has expired: log in again") from None
        except (jwt.InvalidTokenError, ValueError):
            raise Unauthorized("token is invalid") from None
        if not 1 <= user_id <= MAX_ID:
            raise Unauthorized("token is invalid")
        if len(self._checked) >= self.CACHED:
            del self._checked[next(iter(self._checked))]  # the oldest kept
        self._checked[token] = (user_id, expires_at)
        return user_id, expires_at

    def _verified_claims(self, token: str) -> dict[str, Any]:
        """The claims of a token signed with any accepted secret, the current one first."""
        for secret in self._accepted[:-1]:
            try:
                return self._claims(token, secret)
            except jwt.InvalidSignatureError:
                continue  # perhaps signed with an older secret
        return self._claims(token, self._accepted[-1])

    @staticmethod
    def _claims(token: str, secret: str) -> dict[str, Any]:
        return jwt.decode(token, secret, algorithms=[ALGORITHM],
                          options={"require": ["exp", "sub"]})


class KnownUsers:
    """Who a user id stands for (role, master profile, whether he is marked unreachable), as
    last read, for a few seconds.

    Every request and socket names its user, and reading that row cost ~23 µs on SQLite: each
    commit resets the reading connection's page cache. A user's role and master profile never
    change once made; what does change is forgotten here by the process that changes it, and
    `ttl_s` bounds how long another process goes on with what it read. Only users found are
    kept; memory is bounded by dropping the oldest entries.
    """

    CACHED = 16_384

    def __init__(self, *, ttl_s: float = 5.0) -> None:
        self._ttl = ttl_s
        # id -> role, master id, unreachable, until
        self._known: dict[int, tuple[str, int | None, bool, float]] = {}

    def get(self, user_id: int) -> tuple[str, int | None, bool] | None:
        known = self._known.get(user_id)
        if known is None or known[3] <= time.monotonic():
            return None
        return known[0], known[1], known[2]

    def forget(self, *user_ids: int) -> None:
        """Read these users afresh next time (something they are known by changed)."""
        for user_id in user_ids:
            self._known.pop(user_id, None)

    def put(self, user_id: int, role: str, master_id: int | None,
            unreachable: bool = False) -> None:
        self._known.pop(user_id, None)  # re-inserted last, so that eviction drops the oldest
        if len(self._known) >= self.CACHED:
            del self._known[next(iter(self._known))]
        self._known[user_id] = (role, master_id, unreachable, time.monotonic() + self._ttl)


class LoginBrake:
    """Refuses logins to an email after too many recent failures, in this process.

    Only failures count, so a fleet of masters logging in from one address is never slowed;
    memory is bounded by evicting the emails least recently failed.
    """

    def __init__(self, *, max_failures: int, window_s: float, max_tracked: int = 100_000) -> None:
        self._max = max_failures
        self._window = window_s
        self._max_tracked = max_tracked
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        """How many emails are tracked."""
        return len(self._failures)

    def check(self, email: str) -> None:
        """TooManyRequests while `email` has reached the failure limit within the window."""
        recent = self._recent(email)
        if len(recent) >= self._max:
            wait = int(recent[0] + self._window - time.monotonic()) + 1
            raise TooManyRequests(f"too many failed logins for this email; try again in {wait} s")

    def failed(self, email: str) -> None:
        recent = self._recent(email)
        recent.append(time.monotonic())
        self._failures[email] = recent
        self._failures.move_to_end(email)
        while len(self._failures) > self._max_tracked:
            self._failures.popitem(last=False)

    def succeeded(self, email: str) -> None:
        self._failures.pop(email, None)

    def _recent(self, email: str) -> deque[float]:
        recent = self._failures.get(email, deque())
        cutoff = time.monotonic() - self._window
        while recent and recent[0] < cutoff:
            recent.popleft()
        return recent
