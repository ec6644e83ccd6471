"""DNS-01 answers published straight to the panel's PowerDNS for the length of one order.

The TXT record `_acme-challenge.<name>` is not written to the panel database: it lives only
in PowerDNS while the ACME server checks it, and the rrset that was there before (normally
none) is put back afterwards. The database stays the source of truth for every other record.
"""

from __future__ import annotations

import structlog
from acme import challenges

from wispanel.core.context import PanelContext
from wispanel.dns.apply import dns_of
from wispanel.host.acme import AcmeError
from wispanel.host.paths import validate_hostname
from wispanel.host.powerdns_api import RRset

log = structlog.get_logger(__name__)
CHALLENGE_TTL = 60


class Dns01Responder:
    challenge_type = challenges.DNS01

    def __init__(self, panel: PanelContext) -> None:
        self.panel = panel
        # Fully qualified record name -> (zone, TXT values added, rrset found before).
        self._published: dict[str, tuple[str, list[str], RRset | None]] = {}

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
        pdns = dns_of(self.panel)
        if name in self._published:
            zone, values, before = self._published[name]
        else:
            zone = self._zone_of(name)
            values, before = [], _current_txt(self.panel, zone, name)
        values.append(f'"{validation}"')
        self._published[name] = (zone, values, before)
        pdns.api().patch_rrsets(zone, [RRset(name, "TXT", CHALLENGE_TTL, tuple(values))], [])
        pdns.api().flush_cache(name)
        log.info("ssl.dns_challenge_published", name=name, zone=zone)

    def cleanup(self) -> None:
        pdns = dns_of(self.panel)
        for name, (zone, _values, before) in self._published.items():
            try:
                if before is None:
                    pdns.api().patch_rrsets(zone, [], [RRset(name, "TXT", CHALLENGE_TTL, ())])
                else:
                    pdns.api().patch_rrsets(zone, [before], [])
            except Exception:
                # The order's outcome must not depend on the clean-up; reconcile repairs it.
                log.exception("ssl.dns_challenge_cleanup_failed", name=name, zone=zone)
        self._published.clear()


def _current_txt(panel: PanelContext, zone: str, name: str) -> RRset | None:
    current = dns_of(panel).api().get_zone(zone) or {}
    for item in current.get("rrsets", []):
        if item.get("name") == name and item.get("type") == "TXT":
            contents = tuple(record["content"] for record in item.get("records", []))
            return RRset(name, "TXT", int(item.get("ttl", CHALLENGE_TTL)), contents)
    return None
