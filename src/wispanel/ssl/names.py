"""The names of a domain that go into a certificate order."""

from __future__ import annotations

import dns.exception
import dns.message
import dns.query
import dns.rdatatype

from wispanel.core.context import PanelContext
from wispanel.domains.models import Domain
from wispanel.host.paths import validate_hostname


def resolves_here(panel: PanelContext, name: str) -> bool:
    """Return whether the panel's PowerDNS resolves `name` to this server's address.

    An ACME server fetches HTTP-01 responses from the address a name resolves to, so a name
    that points elsewhere would fail the whole order.
    """
    settings = panel.settings.dns
    if settings.server_ipv4 is not None:
        record_type, expected = dns.rdatatype.A, settings.server_ipv4
    elif settings.server_ipv6 is not None:
        record_type, expected = dns.rdatatype.AAAA, settings.server_ipv6
    else:
        return False
    query = dns.message.make_query(name, record_type)
    try:
        response = dns.query.udp(query, "127.0.0.1", port=settings.port, timeout=2.0)
    except (dns.exception.DNSException, OSError):
        return False
    return any(item.address == expected for rrset in response.answer for item in rrset)


def order_names(
    panel: PanelContext, domain: Domain, *, include_www: bool, wildcard: bool
) -> list[str]:
    """Return the names to order: the domain first, then the optional ones that resolve here.

    With `include_www`, www.<domain>, the aliases and their www names are added when the
    panel's DNS points them at this server. With `wildcard`, *.<domain> is added; it is
    validated by DNS-01, so it needs no address.
    """
    name = validate_hostname(domain.name, "domain")
    names = [name]
    if include_www:
        candidates = [f"www.{name}"]
        for alias in domain.aliases:
            alias_name = validate_hostname(alias.name, "alias")
            candidates += [alias_name, f"www.{alias_name}"]
        names += [item for item in candidates if resolves_here(panel, item)]
    if wildcard:
        names = [item for item in names if item != f"www.{name}"]
        names.insert(1, f"*.{name}")
    return names


def current_names(domain: Domain, requested: list[str]) -> list[str]:
    """Return the `requested` names that still belong to `domain`, the domain itself first.

    A queued or renewed order repeats names chosen earlier. An alias removed since then may
    belong to another account now, so only the domain, www.<domain>, *.<domain>, the
    domain's current aliases and their www names remain.
    """
    name = domain.name
    allowed = {name, f"www.{name}", f"*.{name}"}
    for alias in domain.aliases:
        allowed |= {alias.name, f"www.{alias.name}"}
    names = [name]
    for item in requested:
        if item in allowed and item not in names:
            names.append(item)
    return names
