"""Who a request comes from, behind the reverse proxies the operator trusts.

Behind a proxy every request's peer is the proxy, so every anonymous client would
share one count of open streams. A proxy says whom it forwards for in
``X-Forwarded-For``, appending the peer it saw to what the client sent. So the
header is read from its right end, and only past hops the operator trusts
(``web.trusted_proxies``): the first hop from the right that is not a trusted proxy
is the client. Hops further left were written by the client itself and are never
believed. A peer that is not a trusted proxy is the client, whatever it sends.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: the header a proxy names the forwarded client in
FORWARDED_FOR = "X-Forwarded-For"


def parse_networks(entries: Iterable[object]) -> tuple[Network, ...]:
    """``web.trusted_proxies``: addresses or networks (``10.0.0.0/8``); ValueError
    naming the first entry that is neither."""
    networks = []
    for entry in entries:
        if not isinstance(entry, str):
            raise ValueError(f"{entry!r} is not an address or a network (a string such as "
                             "'10.0.0.5' or '10.0.0.0/8')")
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an address or a network (such as "
                             "'10.0.0.5' or '10.0.0.0/8')") from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        found = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address,
             proxies: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def client_address(peer: str | None, forwarded_for: Iterable[str],
                   proxies: Sequence[Network]) -> str:
    """The client's address: ``peer`` (the connection's), unless it is a trusted proxy;
    then the right-most hop of the ``X-Forwarded-For`` values that is not one. A hop
    that is not an address ends the walk at the hop to its right (the last one a
    trusted proxy vouched for)."""
    here = _address(peer) if peer else None
    if here is None or not proxies or not _trusted(here, proxies):
        return peer or "?"
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break
        here = address
        if not _trusted(address, proxies):
            break
    return str(here)
