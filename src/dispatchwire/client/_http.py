"""The REST side: every HTTP call the SDK makes, with the token, and one retry after a 401."""

from typing import Any

import httpx

from dispatchwire.client._errors import ApiError, AuthError, Unreachable
from dispatchwire.client._models import Offer, Order, User
from dispatchwire.client._tokens import Tokens

__all__ = ["Rest"]


class Rest:
    """HTTP calls to one server, authenticated with the token `tokens` holds."""

    def __init__(self, base_url: str, tokens: Tokens, *, timeout: float = 10.0) -> None:
        self.tokens = tokens
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer of an authenticated call. A 401 (the token ran out) gets a fresh
        token and one more try; other error statuses raise ApiError."""
        token = await self.tokens.current()
        response = await self._send(method, path, token, **kwargs)
        if response.status_code == 401:
            token = await self.tokens.refresh(stale=token)
            response = await self._send(method, path, token, **kwargs)
        return _answer(method, path, response)

    async def _send(self, method: str, path: str, token: str | None,
                    **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        try:
            return await self._http.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise Unreachable(f"{method} {path}: {type(exc).__name__}: {exc}") from exc

    async def login(self, email: str, password: str) -> str:
        """A fresh token for these credentials (`POST /api/auth/login`)."""
        body = {"email": email, "password": password}
        response = await self._send("POST", "/api/auth/login", None, json=body)
        return str(_answer("POST", "/api/auth/login", response)["token"])

    async def me(self) -> User:
        return User.from_json(await self.call("GET", "/api/auth/me"))

    async def pending(self) -> list[Offer]:
        items = await self.call("GET", "/api/assignments/pending")
        return [Offer.from_json(item) for item in items]

    async def orders(self, *, status: str | None = None, limit: int = 100) -> list[Order]:
        params: dict[str, Any] = {"limit": limit, **({"status": status} if status else {})}
        return [Order.from_json(item)
                for item in await self.call("GET", "/api/orders", params=params)]

    async def order(self, order_id: int) -> Order:
        return Order.from_json(await self.call("GET", f"/api/orders/{order_id}"))


def _answer(method: str, path: str, response: httpx.Response) -> Any:
    if response.is_success:
        return response.json() if response.content else None
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    error = AuthError if response.status_code == 401 else ApiError
    raise error(method, path, response.status_code, detail)
