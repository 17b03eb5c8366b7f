"""The client behind trusted reverse proxies (``web.trusted_proxies``): read from the
right end of ``X-Forwarded-For``, never from hops a client could have written."""

from __future__ import annotations

import pytest

from zuulish.web.client_address import client_address, parse_networks

PROXIES = parse_networks(["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"])


@pytest.mark.parametrize(("peer", "forwarded", "client"), [
    # no proxy trusted, or a peer that is not one: the peer, whatever it sends
    ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),
    # a trusted proxy: the hop it appended
    ("10.1.2.3", ["203.0.113.5"], "203.0.113.5"),
    # what the client wrote itself, left of the proxy's hop, is never believed
    ("10.1.2.3", ["198.51.100.1, 203.0.113.5"], "203.0.113.5"),
    # two proxies in a row; the header split across two lines
    ("192.0.2.7", ["203.0.113.5, 10.9.9.9"], "203.0.113.5"),
    ("192.0.2.7", ["203.0.113.5", "10.9.9.9"], "203.0.113.5"),
    # a trusted proxy that names no one: itself
    ("10.1.2.3", [], "10.1.2.3"),
    # every hop trusted: the left-most (the first proxy's own client)
    ("10.1.2.3", ["10.4.4.4, 10.5.5.5"], "10.4.4.4"),
    # a hop that is not an address stops the walk at the last one vouched for
    ("10.1.2.3", ["203.0.113.5, not-an-address"], "10.1.2.3"),
    ("10.1.2.3", ["garbage, 10.5.5.5"], "10.5.5.5"),
    # IPv6, and IPv4 seen through an IPv6 socket
    ("2001:db8::1", ["2001:db9::5"], "2001:db9::5"),
    ("::ffff:10.1.2.3", ["203.0.113.5"], "203.0.113.5"),
    (None, ["203.0.113.5"], "?"),
])
def test_the_client_is_the_right_most_hop_no_trusted_proxy_wrote(
        peer: str | None, forwarded: list[str], client: str) -> None:
    assert client_address(peer, forwarded, PROXIES) == client


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert client_address("10.1.2.3", ["203.0.113.5"], ()) == "10.1.2.3"


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "proxy.example", "", 10])
def test_a_bad_entry_is_named(entry: object) -> None:
    with pytest.raises(ValueError, match="is not an address or a network"):
        parse_networks([entry])
