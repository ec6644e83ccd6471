"""A small client for the zones, rrsets and cache endpoints of the PowerDNS HTTP API."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from wispanel.host.components import COMPONENTS
from wispanel.host.errors import HostError

log = structlog.get_logger(__name__)

INSTALL_COMMAND = next(c for c in COMPONENTS if c.name == "powerdns").install_command
API_PREFIX = "/api/v1/servers/localhost"
# The `account` of every zone the panel creates. On a shared PowerDNS (system profile) it
# distinguishes the panel's zones from the operator's, which the panel leaves alone.
MANAGED_ACCOUNT = "wispanel"


class PowerDnsUnavailable(HostError):
    """PowerDNS is not installed, not running, or not reachable through its API."""

    code = "SERVICE_UNAVAILABLE"


class ZoneNotManaged(HostError):
    """The zone exists on a shared PowerDNS, but the panel did not create it."""

    code = "CONFLICT"


class PowerDnsRejected(HostError):
    """PowerDNS answered the API call with an error, so the change was not made."""

    code = "APPLY_FAILED"


@dataclass(frozen=True)
class RRset:
    """All records of one name and type, in PowerDNS presentation format."""

    name: str  # fully qualified, with the trailing dot
    type: str
    ttl: int
    contents: tuple[str, ...]

    def as_api(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "ttl": self.ttl,
            "changetype": "REPLACE",
            "records": [{"content": content, "disabled": False} for content in self.contents],
        }


class PowerDnsApi:
    """A small client for the zones, rrsets and cache endpoints of the PowerDNS API."""

    def __init__(self, base_url: str, api_key: str, timeout: float) -> None:
        self._server_url = base_url + API_PREFIX
        self._client = httpx.Client(
            base_url=base_url + API_PREFIX,
            headers={"X-API-Key": api_key},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
        )

    def close(self) -> None:
        self._client.close()

    def _call(
        self, method: str, path: str, json: Mapping[str, Any] | None = None, **params: str
    ) -> httpx.Response:
        try:
            response = self._client.request(method, path, json=json, params=params or None)
        except httpx.HTTPError as error:
            raise PowerDnsUnavailable(
                f"PowerDNS API is not reachable ({type(error).__name__}); start pdns_server"
                f" or install it with: {INSTALL_COMMAND}"
            ) from error
        if response.status_code in (401, 403):
            raise PowerDnsUnavailable(
                "PowerDNS API rejected the panel's API key; check the key file and pdns.conf"
            )
        return response

    @staticmethod
    def _rejected(response: httpx.Response, action: str) -> PowerDnsRejected:
        try:
            message = str(response.json().get("error", ""))
        except ValueError:
            message = response.text[:300]
        log.warning("pdns.rejected", action=action, status=response.status_code, error=message)
        return PowerDnsRejected(f"PowerDNS rejected {action}: {message or response.status_code}")

    def server_summary(self) -> tuple[str, int]:
        """Return the server's version and the number of zones it serves."""
        zones = self._call("GET", "/zones")
        if zones.status_code != 200:
            raise self._rejected(zones, "listing zones")
        # Every API response carries a header such as "Server: PowerDNS/4.7.3".
        version = zones.headers.get("server", "").removeprefix("PowerDNS/")
        return version or "PowerDNS", len(zones.json())

    def server_version(self) -> str:
        """Return the server's version through the API's cheapest call, the server object."""
        # The server object sits at the base URL itself, which a relative path can't name
        # without a trailing slash that PowerDNS answers with 404.
        response = self._call("GET", self._server_url)
        if response.status_code != 200:
            raise self._rejected(response, "reading the server object")
        return str(response.json().get("version") or "PowerDNS")

    def zone_accounts(self) -> dict[str, str]:
        """Map every zone's name, fully qualified, to its `account`."""
        response = self._call("GET", "/zones")
        if response.status_code != 200:
            raise self._rejected(response, "listing zones")
        return {str(item["name"]): str(item.get("account") or "") for item in response.json()}

    def get_zone(self, zone: str) -> dict[str, Any] | None:
        """Return the zone with its rrsets, or None when PowerDNS has no such zone."""
        response = self._call("GET", f"/zones/{zone}")
        if response.status_code in (404, 422):
            return None
        if response.status_code != 200:
            raise self._rejected(response, f"reading zone {zone}")
        body: dict[str, Any] = response.json()
        return body

    def create_zone(self, zone: str, rrsets: Sequence[RRset]) -> None:
        body = {
            "name": zone,
            "kind": "Native",
            # The panel writes the SOA serial itself, so PowerDNS must not edit it.
            "soa_edit_api": "",
            "account": MANAGED_ACCOUNT,
            "nameservers": [],
            "rrsets": [{k: v for k, v in r.as_api().items() if k != "changetype"} for r in rrsets],
        }
        response = self._call("POST", "/zones", json=body)
        if response.status_code != 201:
            raise self._rejected(response, f"creating zone {zone}")
        self.flush_cache(zone)

    def patch_rrsets(self, zone: str, replace: Sequence[RRset], delete: Sequence[RRset]) -> None:
        changes = [rrset.as_api() for rrset in replace]
        changes += [{"name": r.name, "type": r.type, "changetype": "DELETE"} for r in delete]
        if not changes:
            return
        response = self._call("PATCH", f"/zones/{zone}", json={"rrsets": changes})
        if response.status_code != 204:
            raise self._rejected(response, f"changing zone {zone}")

    def delete_zone(self, zone: str) -> None:
        response = self._call("DELETE", f"/zones/{zone}")
        if response.status_code not in (204, 404, 422):
            raise self._rejected(response, f"deleting zone {zone}")
        self.flush_cache(zone)

    def flush_cache(self, zone: str) -> None:
        """Drop cached responses for the zone, such as REFUSED cached before it existed."""
        response = self._call("PUT", "/cache/flush", domain=zone)
        if response.status_code != 200:
            raise self._rejected(response, f"flushing the cache of {zone}")


def _rrsets_of(zone: Mapping[str, Any]) -> dict[tuple[str, str], RRset]:
    found: dict[tuple[str, str], RRset] = {}
    for item in zone.get("rrsets", []):
        contents = tuple(sorted(r["content"] for r in item.get("records", [])))
        rrset = RRset(item["name"], item["type"], int(item.get("ttl") or 0), contents)
        found[(rrset.name, rrset.type)] = rrset
    return found


def changes(current: Mapping[str, Any], rrsets: Sequence[RRset]) -> tuple[list[RRset], list[RRset]]:
    """Return the rrsets to replace and to delete to turn `current` into `rrsets`."""
    have = _rrsets_of(current)
    want = {
        (r.name, r.type): RRset(r.name, r.type, r.ttl, tuple(sorted(r.contents))) for r in rrsets
    }
    replace = [rrset for key, rrset in want.items() if have.get(key) != rrset]
    delete = [rrset for key, rrset in have.items() if key not in want]
    return replace, delete
