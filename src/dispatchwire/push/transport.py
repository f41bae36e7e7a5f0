"""An httpx client for Web Push that checks every connection it opens against the allow-list.

The check sits where the connection is made: the host is resolved once, every address is
checked, and the socket is opened to a checked address. So a host whose DNS answer changes
after it was checked (DNS rebinding) cannot slip an internal address in between, and the check
costs nothing beyond the resolution the connection needs anyway; kept-alive connections to a
push service are reused without another one.
"""

import ssl
from collections.abc import Iterable

import httpcore
import httpx

from dispatchwire.push.allowlist import HostPolicy, HostUnresolvable

__all__ = ["guarded_client"]

SocketOption = (tuple[int, int, int] | tuple[int, int, bytes | bytearray]
                | tuple[int, int, None, int])


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the policy allows."""

    def __init__(self, policy: HostPolicy) -> None:
        self._policy = policy
        self._backend = httpcore.AnyIOBackend()

    # The signatures are httpcore's, `timeout` included.
    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,  # noqa: ASYNC109
                          local_address: str | None = None,
                          socket_options: Iterable[SocketOption] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        self._policy.check_host(host)  # EndpointRefused goes up to the sender as it is
        try:
            addresses = await self._policy.resolve(host, port, timeout_s=timeout or 5.0)
        except HostUnresolvable as exc:  # DNS trouble is worth a retry, unlike a refusal
            raise httpcore.ConnectError(str(exc)) from exc
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._backend.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure or httpcore.ConnectError("no address to connect to")

    async def connect_unix_socket(self, path: str, timeout: float | None = None,  # noqa: ASYNC109
                                  socket_options: Iterable[SocketOption] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("push services are reached over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, policy: HostPolicy, *, verify: ssl.SSLContext | bool) -> None:
        super().__init__(verify=verify, trust_env=False)
        # httpx builds its pool without a way to pass a network backend: build it again
        # with ours (the request and exception mapping of AsyncHTTPTransport stay as they are).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            max_connections=100, max_keepalive_connections=20, keepalive_expiry=30.0,
            network_backend=_GuardedBackend(policy))


def guarded_client(policy: HostPolicy, *, timeout_s: float,
                   verify: ssl.SSLContext | bool = True) -> httpx.AsyncClient:
    """A client that never follows a redirect, ignores proxy variables and checks each host."""
    return httpx.AsyncClient(
        transport=_GuardedTransport(policy, verify=verify), timeout=timeout_s,
        follow_redirects=False, trust_env=False)
