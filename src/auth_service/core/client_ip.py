"""The client address, resolved from `X-Forwarded-For` as Better Auth does (spec §3.5).

- Without trusted proxies, the header must hold exactly one valid IP; anything else gives
  no address (the header is spoofable, so a chain is not trusted).
- With trusted proxies (IPs or CIDR ranges), the chain is walked from the right, skipping
  trusted hops: the first untrusted one is the client. An invalid hop, or a chain made only
  of trusted hops, gives no address.
- IPv4-mapped IPv6 becomes IPv4; other IPv6 addresses become their /64, fully expanded.

The socket peer address is not used, as in Better Auth: put the service behind a gateway
that sets (or appends to) `X-Forwarded-For`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

IPNetwork = IPv4Network | IPv6Network

_CACHE_SIZE = 4096


def parse_trusted_proxies(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parse `10.0.0.1`, `10.0.0.0/8`, `2001:db8::/32`; ValueError names a bad entry."""
    networks: list[IPNetwork] = []
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        address, slash, prefix = entry.partition("/")
        if slash and not prefix.isdigit():
            raise ValueError(f"{entry!r} is not an IP address or CIDR range")
        try:
            parsed = ipaddress.ip_address(address)
            if isinstance(parsed, IPv6Address) and parsed.ipv4_mapped is not None:
                parsed = parsed.ipv4_mapped
            bits = int(prefix) if slash else parsed.max_prefixlen
            networks.append(ipaddress.ip_network((parsed, bits), strict=False))
        except ValueError as exc:
            raise ValueError(f"{entry!r} is not an IP address or CIDR range") from exc
    return tuple(networks)


def _parse(text: str) -> IPv4Address | IPv6Address | None:
    if "%" in text:  # a zone index is not an address Better Auth accepts
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _normalise(address: IPv4Address | IPv6Address) -> str:
    if isinstance(address, IPv4Address):
        return str(address)
    return IPv6Network((address, 64), strict=False).network_address.exploded


def forwarded_client_ip(header: str | None, trusted: tuple[IPNetwork, ...] = ()) -> str | None:
    """The client IP from an `X-Forwarded-For` value, or None when none can be trusted."""
    if not header:
        return None
    hops = [hop for hop in (item.strip() for item in header.split(",")) if hop]
    if not hops:
        return None
    if trusted:
        for hop in reversed(hops):
            address = _parse(hop)
            if address is None:
                return None
            if any(address in network for network in trusted):
                continue
            return _normalise(address)
        return None
    if len(hops) != 1:
        return None
    address = _parse(hops[0])
    return _normalise(address) if address is not None else None


class ClientIpResolver:
    """`forwarded_client_ip` for ASGI header lists, with a small cache of recent values."""

    __slots__ = ("_cache", "trusted")

    def __init__(self, trusted: tuple[IPNetwork, ...] = ()) -> None:
        self.trusted = trusted
        self._cache: dict[bytes, str | None] = {}

    def from_raw_headers(self, headers: Iterable[tuple[bytes, bytes]]) -> str | None:
        value: bytes | None = None
        for name, item in headers:
            if name == b"x-forwarded-for":
                # Several header lines read as one comma-separated list, as fetch joins them.
                value = item if value is None else value + b", " + item
        if value is None:
            return None
        try:
            return self._cache[value]
        except KeyError:
            pass
        ip = forwarded_client_ip(value.decode("latin-1"), self.trusted)
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[value] = ip
        return ip
