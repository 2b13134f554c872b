"""The notification URL guard, shared by the control plane (on save) and delivery (at connect time).

A URL is refused when it is not http(s), carries credentials, or its host resolves to an address a
tenant must not reach through us: loopback, private, link-local, multicast, shared (CGNAT), reserved,
unspecified or a cloud metadata address, in IPv4 or IPv6. An IPv6 address that carries an IPv4 one
(IPv4-mapped, NAT64's well-known prefix) is judged by the IPv4 address it reaches, so DNS64 names of
public hosts pass; local-use NAT64 prefixes lead to private networks, and 6to4 (deprecated) is refused whole,
saying so for a wrapper of 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import SplitResult, urlsplit

from schemas.errors import SchemaError

MAX_URL_LENGTH = 2048
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
     ipaddress.ip_address("100.100.100.200")}
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the IPv4 address is the last 32 bits
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: a network's own translators

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], Iterable[str]]


class UnsafeUrl(SchemaError, ValueError):
    """A notification URL that must not be called; the message says why."""


def forbidden_reason(address: Address) -> str | None:
    """Why `address` must not be reached, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in _LOCAL_NAT64:
            return "a local-use NAT64 address"
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif (wrapped := _wrapped_ipv4(address)) is not None:
            kind, inner = wrapped
            if (reason := forbidden_reason(inner)) is not None:
                return f"a {kind} address embedding {inner}, {reason}"
            if kind == "6to4":  # its relays are gone, and the delivery workers' network policy closes 2002::/16
                return "a 6to4 address, deprecated (RFC 7526): use the host's IPv4 or native IPv6 address"
            return None
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    checks = [
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("shared (CGNAT)", isinstance(address, ipaddress.IPv4Address) and address in _SHARED),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    ]
    return next((f"a {name} address" for name, hit in checks if hit), None)


def _wrapped_ipv4(address: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    if address.sixtofour is not None:
        return "6to4", address.sixtofour
    if address in _NAT64:
        return "NAT64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def check_syntax(url: str) -> SplitResult:
    """Scheme, host, credentials and length; no name resolution."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError as error:
        raise UnsafeUrl(f"the URL is malformed: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl("the URL must start with http:// or https://")
    if not parts.hostname:
        raise UnsafeUrl("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("the URL must not carry credentials (user:password@)")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise UnsafeUrl("the URL must not contain spaces or control characters")
    if parts.port == 0 or parts.netloc.endswith(":"):
        raise UnsafeUrl("the URL's port must be a number from 1 to 65535")
    try:
        parts.hostname.encode("idna")
    except UnicodeError:
        raise UnsafeUrl("the URL's host is not a valid host name (an empty label, or one longer than 63 "
                        "characters)") from None
    return parts


def system_resolver(host: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise UnsafeUrl(f"the host {host!r} does not resolve ({error.strerror})") from None
    except UnicodeError:  # the IDNA codec refuses the name
        raise UnsafeUrl(f"the host {host!r} is not a valid host name") from None
    return [str(info[4][0]) for info in infos]


def check_addresses(host: str, addresses: Iterable[str]) -> None:
    for text in addresses:
        reason = forbidden_reason(ipaddress.ip_address(text.split("%", 1)[0]))
        if reason is not None:
            raise UnsafeUrl(f"the host {host!r} resolves to {text}, {reason}")


def check_url(url: str, *, allow_private: bool, resolve: Resolver = system_resolver) -> None:
    """Raise UnsafeUrl unless `url` may be called. With `allow_private`, only the syntax is checked."""
    parts = check_syntax(url)
    if allow_private:
        return
    host = parts.hostname or ""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        check_addresses(host, resolve(host))
    else:
        check_addresses(host, [str(literal)])
