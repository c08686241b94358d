"""Outbound URLs an admin or the environment supplies (webhooks) must not reach inside.

A URL is checked when it is set and again right before each call, because what a host
name resolves to can change in between. Refused: anything but http(s) (only https in
production) and any address that is loopback, private, link-local, multicast, a cloud
metadata endpoint or otherwise not globally routable, in IPv4 or IPv6 (IPv4-mapped and
NAT64 forms are unwrapped first). OUTBOUND_ALLOWED_HOSTS names the exceptions: host
names, addresses or networks the operator vouches for.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Instance metadata services that are reachable from a VM and hand out credentials.
# 169.254.169.254 is also link-local; it is named so that the reason says what it is.
METADATA = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, ...
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task credentials
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
}
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# `ticket-service dev` delivers to receivers on the developer's machine.
DEV_ALLOWED = ("localhost", "127.0.0.0/8", "::1")


class OutboundRefused(Exception):
    """The URL may not be called; the message says why, without echoing secrets."""


class OutboundUnresolvable(OutboundRefused):
    """The host name does not resolve (now): at call time worth another try later."""


def _unwrap(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def address_problem(ip: IPAddress) -> str | None:
    """Why calling this address is refused, or None for a public one."""
    ip = _unwrap(ip)
    if ip in METADATA:
        return "a cloud metadata address"
    for test, what in (
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_private, "a private address"),
        (ip.is_unspecified, "an unspecified address"),
    ):
        if test:
            return what
    if not ip.is_global:
        return "not a public address"
    return None


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


@dataclass(frozen=True)
class OutboundPolicy:
    https_only: bool
    allowed_hosts: frozenset[str] = frozenset()
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def build(cls, environment: str, allowed: Iterable[str]) -> OutboundPolicy:
        entries = [a.strip().lower() for a in allowed if a.strip()]
        if environment == "development":
            entries += DEV_ALLOWED
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(entry)
        return cls(environment == "production", frozenset(hosts), tuple(networks))

    def _allowed_ip(self, ip: IPAddress) -> bool:
        return any(ip in net or _unwrap(ip) in net for net in self.allowed_networks)

    def _ip_problem(self, host: str, ip: IPAddress) -> str | None:
        problem = None if self._allowed_ip(ip) else address_problem(ip)
        if problem is None:
            return None
        if _literal(host) is not None:
            return f"{host} is {problem}"
        return f"{host} resolves to {ip}, which is {problem}"

    def static_problem(self, url: str) -> str | None:
        """What is wrong with the URL itself, before any resolution (None: nothing yet)."""
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
            _ = parts.port  # raises on a port that is not a number
        except ValueError:
            return "the URL cannot be parsed"
        schemes = ("https",) if self.https_only else ("http", "https")
        if parts.scheme not in schemes:
            return f"the URL must use {' or '.join(schemes)}"
        if not host:
            return "the URL has no host"
        if parts.username is not None or parts.password is not None:
            return "the URL must not carry a user name or password"
        if host in self.allowed_hosts:
            return None
        ip = _literal(host)
        return self._ip_problem(host, ip) if ip is not None else None

    async def check(self, url: str) -> None:
        """Raise OutboundRefused unless the URL and every address its host resolves to
        may be called. Resolution goes through the event loop's resolver (no blocking)."""
        problem = self.static_problem(url)
        if problem:
            raise OutboundRefused(problem)
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host in self.allowed_hosts:
            return  # the operator vouches for it, wherever it resolves
        await self.addresses(host, parts.port or (443 if parts.scheme == "https" else 80))

    async def addresses(self, host: str, port: int) -> list[str]:
        """Where a connection to host:port may go: every address it resolves to, each one
        allowed, or OutboundRefused."""
        host = host.lower()
        literal = _literal(host)
        if literal is not None:
            problem = self._ip_problem(host, literal)
            if problem:
                raise OutboundRefused(problem)
            return [str(literal)]
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (socket.gaierror, UnicodeError) as exc:
            raise OutboundUnresolvable(f"{host} does not resolve") from exc
        found = list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))
        if host not in self.allowed_hosts:
            for address in found:
                problem = self._ip_problem(host, ipaddress.ip_address(address))
                if problem:
                    raise OutboundRefused(problem)
        return found


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network layer, connecting only to addresses the policy accepts, resolved
    here: the name is not looked up again between the check and the connection, so a DNS
    answer that changes in between (rebinding) cannot send the request inside. TLS still
    verifies the certificate against the host name of the URL."""

    def __init__(self, policy: OutboundPolicy, inner: httpcore.AsyncNetworkBackend) -> None:
        self._policy = policy
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._policy.addresses(host, port)
        for n, address in enumerate(addresses):
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError:
                if n == len(addresses) - 1:
                    raise
        raise httpcore.ConnectError(f"{host} has no address")  # pragma: no cover

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        raise OutboundRefused("unix sockets are not called")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def pinned_transport(policy: OutboundPolicy, **options: Any) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every connection goes through PinnedBackend."""
    transport = httpx.AsyncHTTPTransport(**options)
    # httpx has no parameter for httpcore's network backend: wrap the one its pool made.
    pool: Any = transport._pool
    pool._network_backend = PinnedBackend(policy, pool._network_backend)
    return transport
