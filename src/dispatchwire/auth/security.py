"""Password hashing (argon2) and access tokens (JWT, HS256)."""

import asyncio
from datetime import timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dispatchwire.clock import utcnow
from dispatchwire.errors import Unauthorized

__all__ = ["Passwords", "Tokens"]

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
    def __init__(self, *, secret: str, ttl_s: int) -> None:
        self._secret = secret
        self._ttl = timedelta(seconds=ttl_s)

    def issue(self, *, user_id: int, role: str) -> str:
        now = utcnow()
        claims = {"sub": str(user_id), "role": role, "iat": now, "exp": now + self._ttl}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def user_id(self, token: str) -> int:
        """The user id a valid token names; Unauthorized for anything else."""
        try:
            claims = jwt.decode(token, self._secret, algorithms=[ALGORITHM],
                                options={"require": ["exp", "sub"]})
            return int(claims["sub"])
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token has expired: log in again") from None
        except (jwt.InvalidTokenError, ValueError):
            raise Unauthorized("token is invalid") from None
