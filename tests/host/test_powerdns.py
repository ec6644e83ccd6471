"""The local profile's PowerDNS: its files, its daemon, and the zone sync through its API."""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterator

import dns.message
import dns.query
import pytest
from tests.host.web_helpers import free_port, short_data_dir

from wispanel.core.config import Settings
from wispanel.host.powerdns import PowerDns
from wispanel.host.powerdns_api import (
    PowerDnsRejected,
    PowerDnsUnavailable,
    RRset,
    ZoneNotManaged,
)
from wispanel.host.runner import CommandRunner, which

needs_pdns = pytest.mark.skipif(which("pdns_server") is None, reason="pdns_server is missing")
SOA = "ns1.example.net. hostmaster.example.test. 2025010101 10800 3600 604800 3600"


@pytest.fixture
def pdns_settings(make_settings: Callable[..., Settings]) -> Iterator[Settings]:
    for directory in short_data_dir():
        yield make_settings(directory, dns={"port": free_port(), "api_port": free_port()})


@pytest.fixture
def powerdns(pdns_settings: Settings) -> Iterator[PowerDns]:
    server = PowerDns(pdns_settings, CommandRunner())
    yield server
    server.stop()


def answers(settings: Settings, name: str, rdtype: str) -> list[str]:
    query = dns.message.make_query(name, rdtype)
    response = dns.query.udp(query, "127.0.0.1", port=settings.dns.port, timeout=3)
    return sorted(item.to_text() for rrset in response.answer for item in rrset)


def test_config_keeps_to_loopback(powerdns: PowerDns, pdns_settings: Settings) -> None:
    text = powerdns.render_config("key")
    assert "launch=gsqlite3" in text
    assert f"local-address=127.0.0.1:{pdns_settings.dns.port}" in text
    assert f"webserver-port={pdns_settings.dns.api_port}" in text
    assert "webserver-address=127.0.0.1\n" in text
    assert "security-poll-suffix=\n" in text
    assert "guardian=no" in text


@needs_pdns
def test_prepare_writes_private_files(powerdns: PowerDns) -> None:
    powerdns.prepare()
    layout = powerdns.layout
    assert stat.S_IMODE(layout.api_key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(layout.config_file.stat().st_mode) == 0o600
    key = layout.api_key_file.read_text().strip()
    assert len(key) == 64
    assert f"api-key={key}" in layout.config_file.read_text()
    assert layout.database.stat().st_size > 0
    powerdns.prepare()
    assert layout.api_key_file.read_text().strip() == key


@needs_pdns
def test_sync_zone_creates_replaces_deletes(powerdns: PowerDns, pdns_settings: Settings) -> None:
    soa = RRset("example.test.", "SOA", 3600, (SOA,))
    www = RRset("www.example.test.", "A", 300, ("192.0.2.1",))
    powerdns.sync_zone("example.test.", [soa, www])
    assert powerdns.running()
    assert answers(pdns_settings, "www.example.test", "A") == ["192.0.2.1"]

    moved = RRset("www.example.test.", "A", 300, ("192.0.2.2", "192.0.2.3"))
    api = RRset("api.example.test.", "AAAA", 300, ("2001:db8::1",))
    powerdns.sync_zone("example.test.", [soa, moved, api])
    assert answers(pdns_settings, "www.example.test", "A") == ["192.0.2.2", "192.0.2.3"]
    assert answers(pdns_settings, "api.example.test", "AAAA") == ["2001:db8::1"]

    powerdns.sync_zone("example.test.", [soa, api])
    assert answers(pdns_settings, "www.example.test", "A") == []
    powerdns.delete_zone("example.test.")
    assert powerdns.api().get_zone("example.test.") is None


@needs_pdns
def test_rejected_change_raises_apply_error(powerdns: PowerDns) -> None:
    soa = RRset("example.test.", "SOA", 3600, (SOA,))
    powerdns.sync_zone("example.test.", [soa])
    bad = RRset("www.example.test.", "A", 300, ("not-an-address",))
    with pytest.raises(PowerDnsRejected, match="PowerDNS rejected"):
        powerdns.sync_zone("example.test.", [soa, bad])


@needs_pdns
def test_unreachable_api_is_unavailable(powerdns: PowerDns) -> None:
    powerdns.prepare()
    with pytest.raises(PowerDnsUnavailable, match="not reachable"):
        powerdns.api().get_zone("example.test.")


@needs_pdns
def test_wrong_key_is_unavailable(powerdns: PowerDns) -> None:
    powerdns.ensure_running()
    powerdns.stop_api_client()
    powerdns.layout.api_key_file.write_text("wrong\n")
    with pytest.raises(PowerDnsUnavailable, match="API key"):
        powerdns.api().get_zone("example.test.")


@needs_pdns
def test_shared_server_keeps_operator_zones(
    powerdns: PowerDns, pdns_settings: Settings, make_settings: Callable[..., Settings]
) -> None:
    """On a shared server (system profile) only zones the panel created are the panel's."""
    powerdns.ensure_running()
    api = powerdns.api()
    # The operator's own zone, created without the panel's account mark.
    response = api._call(
        "POST",
        "/zones",
        json={"name": "operator.test.", "kind": "Native", "nameservers": ["ns1.example.net."]},
    )
    assert response.status_code == 201, response.text

    shared = PowerDns(
        make_settings(
            pdns_settings.data_dir.parent / "panel",
            server={"profile": "system"},
            dns={
                "port": pdns_settings.dns.port,
                "api_port": pdns_settings.dns.api_port,
                "api_key_file": str(powerdns.layout.api_key_file),
            },
        ),
        CommandRunner(),
    )

    soa = RRset("ours.test.", "SOA", 3600, (SOA,))
    shared.sync_zone("ours.test.", [soa])
    assert shared.zone_names() == {"ours.test."}
    assert powerdns.zone_names() == {"ours.test.", "operator.test."}
    with pytest.raises(ZoneNotManaged):
        shared.sync_zone("operator.test.", [RRset("operator.test.", "SOA", 3600, (SOA,))])
    assert shared.zone_drift("operator.test.", []) == "not created by the panel, left alone"
    assert answers(pdns_settings, "operator.test", "NS") == ["ns1.example.net."]
    shared.stop_api_client()
