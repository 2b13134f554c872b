"""The source address of a request, for sign-in throttling, and the scheme the client used.

It is the connection's peer, unless the peer is a trusted reverse proxy (CALLAPI_TRUSTED_PROXIES, e.g. the
Kubernetes ingress): then X-Forwarded-For is walked from the right past trusted proxies, and the first
address that is not one is the source. Entries left of it were written by the client and are never believed.
Likewise only a trusted proxy says, in X-Forwarded-Proto, whether the client came over https.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address
SCHEMES = ("http", "https")


def parse_networks(text: str) -> tuple[Network, ...]:
    """`10.0.0.0/8, 192.168.1.7` → networks; a bad entry raises ValueError naming the setting."""
    networks = []
    for part in (part.strip() for part in text.split(",")):
        if not part:
            continue
        try:
            networks.append(ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"CALLAPI_TRUSTED_PROXIES: {part!r} is not an IP address or network "
                             "(e.g. 10.0.0.0/8,192.168.1.7)") from None
    return tuple(networks)


def _address(text: str) -> Address | None:
    try:
        parsed = ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(parsed, IPv6Address) and parsed.ipv4_mapped is not None:  # dual-stack sockets
        return parsed.ipv4_mapped
    return parsed


def source_address(peer: str | None, forwarded_for: list[str], trusted: tuple[Network, ...]) -> str:
    """The peer, or the nearest untrusted hop of X-Forwarded-For (`forwarded_for`: every such header's value)."""
    address = _address(peer or "")
    if address is None:
        return peer or "unknown"
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    while hops and any(address in network for network in trusted):
        hop = _address(hops.pop())
        if hop is None:  # garbage where an address belongs: stop at the last proxy that was believed
            break
        address = hop
    return str(address)


def forwarded_scheme(peer: str | None, forwarded_proto: list[str], trusted: tuple[Network, ...]) -> str | None:
    """http or https as the nearest proxy says (`forwarded_proto`: every X-Forwarded-Proto header's value);
    None when the peer is not a trusted proxy, or says nothing usable."""
    address = _address(peer or "")
    if address is None or not any(address in network for network in trusted):
        return None
    hops = [hop.strip().lower() for header in forwarded_proto for hop in header.split(",")]
    return hops[-1] if hops and hops[-1] in SCHEMES else None
