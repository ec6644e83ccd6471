"""DNS-01 answers published straight to the panel's PowerDNS for the length of one order.

The TXT record `_acme-challenge.<name>` is not written to the panel database: it lives only
in PowerDNS while the ACME server checks it. A responder adds its values to those the rrset
contains and afterwards removes only its own, so two orders that overlap leave nothing
behind. The database stays the source of truth for every other record.
"""

from __future__ import annotations

import threading

import structlog
from acme import challenges

from wispanel.core.context import PanelContext
from wispanel.dns.apply import dns_of
from wispanel.host.acme import AcmeError
from wispanel.host.paths import validate_hostname
from wispanel.host.powerdns_api import RRset

log = structlog.get_logger(__name__)
CHALLENGE_TTL = 60


# Serialises the read-modify-write of challenge rrsets between the job threads of one process.
_RRSET_LOCK = threading.Lock()


class Dns01Responder:
    challenge_type = challenges.DNS01

    def __init__(self, panel: PanelContext) -> None:
        self.panel = panel
        # Fully qualified record name -> (zone, TXT values this responder added).
        self._published: dict[str, tuple[str, list[str]]] = {}

    def _zone_of(self, name: str) -> str:
        zones = dns_of(self.panel).zone_names()
        labels = name.rstrip(".").split(".")
        for start in range(len(labels) - 1):
            candidate = ".".join(labels[start:]) + "."
            if candidate in zones:
                return candidate
        raise AcmeError(f"no DNS zone of the panel contains {name}; DNS-01 needs one")

    def present(self, identifier: str, token: str, validation: str) -> None:
        del token  # DNS-01 publishes the digest only
        name = f"_acme-challenge.{validate_hostname(identifier, 'domain')}."
        value = f'"{validation}"'
        zone, added = self._published.get(name) or (self._zone_of(name), [])
        pdns = dns_of(self.panel)
        with _RRSET_LOCK:
            current = _current_txt(self.panel, zone, name)
            contents = current.contents if current is not None else ()
            if value not in contents:
                contents = (*contents, value)
            pdns.api().patch_rrsets(zone, [RRset(name, "TXT", CHALLENGE_TTL, contents)], [])
        added.append(value)
        self._published[name] = (zone, added)
        pdns.api().flush_cache(name)
        log.info("ssl.dns_challenge_published", name=name, zone=zone)

    def cleanup(self) -> None:
        """Remove exactly the TXT values this responder added; other values stay."""
        for name, (zone, added) in self._published.items():
            try:
                self._withdraw(zone, name, added)
            except Exception:
                # The order's outcome must not depend on the clean-up; reconcile repairs it.
                log.exception("ssl.dns_challenge_cleanup_failed", name=name, zone=zone)
        self._published.clear()

    def _withdraw(self, zone: str, name: str, added: list[str]) -> None:
        api = dns_of(self.panel).api()
        with _RRSET_LOCK:
            current = _current_txt(self.panel, zone, name)
            if current is None:
                return
            remaining = tuple(value for value in current.contents if value not in added)
            if remaining:
                api.patch_rrsets(zone, [RRset(name, "TXT", current.ttl, remaining)], [])
            else:
                api.patch_rrsets(zone, [], [RRset(name, "TXT", CHALLENGE_TTL, ())])
        api.flush_cache(name)


def _current_txt(panel: PanelContext, zone: str, name: str) -> RRset | None:
    current = dns_of(panel).api().get_zone(zone) or {}
    for item in current.get("rrsets", []):
        if item.get("name") == name and item.get("type") == "TXT":
            contents = tuple(record["content"] for record in item.get("records", []))
            return RRset(name, "TXT", int(item.get("ttl", CHALLENGE_TTL)), contents)
    return None
