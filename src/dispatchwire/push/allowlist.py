"""The SSRF boundary: which Web Push endpoints the server will ever send a request to.

A browser hands the server a URL that the server will POST to; unchecked, any user could make
the server call its own network. Two layers, both applied when a subscription is made and again
on every connection the sender opens (DNS may change between the two):

- the name: `https://` on a host that is, or ends in `.` followed by, an allowed host; an IP
  literal only when named exactly; `http://` only for a loopback host named exactly (tests, a
  laptop);
- the address: every address the host resolves to must be public (not private, loopback,
  link-local, shared, reserved, multicast...), except a loopback host the list names exactly.
  An attacker's DNS answering with an internal address is refused however the name looks.
"""

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from dispatchwire.settings import Settings

__all__ = ["EndpointRefused", "HostPolicy", "HostUnresolvable"]

MAX_ENDPOINT_LENGTH = 2048
_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class EndpointRefused(ValueError):
    """A Web Push endpoint outside the allow-list; the message says why, without the URL."""


class HostUnresolvable(EndpointRefused):
    """The endpoint's host did not resolve (now): refused at subscription, retried at send."""


def _ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _normal(host: str) -> str:
    return host.lower().removesuffix(".")


def _is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    return address.is_global and not address.is_multicast


@dataclass(frozen=True, slots=True)
class HostPolicy:
    """The allowed push service hosts (`DISPATCHWIRE_PUSH_ALLOWED_HOSTS`), normalised."""

    hosts: tuple[str, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> "HostPolicy":
        return cls(settings.push_hosts)

    def check_url(self, endpoint: str) -> httpx.URL:
        """The endpoint as httpx will request it, if its scheme and host are allowed."""
        if len(endpoint) > MAX_ENDPOINT_LENGTH:
            raise EndpointRefused(f"the endpoint is longer than {MAX_ENDPOINT_LENGTH} characters")
        try:
            url = httpx.URL(endpoint)
            port = url.port
        except (httpx.InvalidURL, ValueError) as exc:
            raise EndpointRefused("the endpoint is not a valid URL") from exc
        if url.scheme not in ("https", "http"):
            raise EndpointRefused("the endpoint must be an https:// URL")
        if url.userinfo:
            raise EndpointRefused("the endpoint must not carry a user name or password")
        if port is not None and not 0 < port < 65536:
            raise EndpointRefused("the endpoint's port is out of range")
        self.check_host(url.host)
        if url.scheme == "http" and not self.is_named_loopback(url.host):
            raise EndpointRefused(
                "the endpoint must be https://; http:// is only for a loopback host that "
                "DISPATCHWIRE_PUSH_ALLOWED_HOSTS names")
        return url

    def check_host(self, host: str) -> None:
        """Refuse a host that is not an allowed one nor a subdomain of one."""
        name = _normal(host)
        if name in self.hosts:
            return
        if _ip(name) is None and _NAME.fullmatch(name) \
                and any(name.endswith("." + allowed) for allowed in self.hosts):
            return
        raise EndpointRefused(
            "the endpoint's host is not a push service this server sends to "
            "(DISPATCHWIRE_PUSH_ALLOWED_HOSTS)")

    def is_named_loopback(self, host: str) -> bool:
        """True for `localhost` or a loopback IP literal that the list names exactly."""
        name = _normal(host)
        address = _ip(name)
        loopback = name == "localhost" or (address is not None and address.is_loopback)
        return loopback and name in self.hosts

    def check_addresses(self, host: str, addresses: Iterable[str]) -> None:
        """Refuse when any address `host` resolved to is not public (unless allowed loopback)."""
        named_loopback = self.is_named_loopback(host)
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone
            if _is_public(address) or (named_loopback and address.is_loopback):
                continue
            raise EndpointRefused(
                "the endpoint's host resolves to an internal address "
                "(private, loopback, link-local or reserved)")

    async def resolve(self, host: str, port: int, *, timeout_s: float) -> list[str]:
        """The host's addresses, resolved without blocking the loop, each one checked."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout_s):
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (TimeoutError, OSError) as exc:
            raise HostUnresolvable("the endpoint's host does not resolve") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        self.check_addresses(host, addresses)
        return addresses

    async def check(self, endpoint: str, *, timeout_s: float = 5.0) -> None:
        """Both layers, as at subscription time: raises EndpointRefused naming the rule."""
        url = self.check_url(endpoint)
        await self.resolve(url.host, url.port or (443 if url.scheme == "https" else 80),
                           timeout_s=timeout_s)
