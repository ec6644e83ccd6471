"""DNS through the API, checked over the wire against the panel's own PowerDNS."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from itertools import pairwise
from typing import Any

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.zone
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, bearer, login
from tests.host.web_helpers import free_port, needs_nginx, needs_php_fpm, short_data_dir
from wispanel.app import create_app
from wispanel.core.config import Settings
from wispanel.core.database import create_sync_engine
from wispanel.core.models import EventRecord
from wispanel.host.runner import which
from wispanel.system.doctor import collect

needs_pdns = pytest.mark.skipif(which("pdns_server") is None, reason="pdns_server is missing")
pytestmark = [needs_nginx, needs_php_fpm, needs_pdns, pytest.mark.integration]
PASSWORD = "account-password"
ZONES = "/api/v1/dns/zones"


@pytest.fixture
def dns_settings(settings: Settings, make_settings: Callable[..., Settings]) -> Iterator[Settings]:
    """Settings with a short data directory and free web, DNS and PowerDNS API ports."""
    for directory in short_data_dir():
        yield make_settings(
            directory,
            web={"http_port": free_port(), "https_port": free_port()},
            dns={"port": free_port(), "api_port": free_port()},
            rate_limit={"default_per_minute": 1000},
        )


@pytest.fixture
def client(dns_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(dns_settings), client=("127.0.0.1", 40000)) as test_client:
        yield test_client


def create_user(client: TestClient, token: str, username: str, **extra: Any) -> str:
    body = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    response = client.post("/api/v1/users", json={**body, **extra}, headers=bearer(token))
    assert response.status_code == 201, response.text
    return login(client, username, PASSWORD)


def add_domain(client: TestClient, token: str, domain: str) -> None:
    response = client.post("/api/v1/domains", json={"domain": domain}, headers=bearer(token))
    assert response.status_code == 201, response.text


def add_record(client: TestClient, token: str, zone: str, **body: Any) -> Any:
    return client.post(f"{ZONES}/{zone}/records", json=body, headers=bearer(token))


def query(settings: Settings, name: str, rdtype: str) -> dns.message.Message:
    message = dns.message.make_query(name, rdtype)
    response, _used_tcp = dns.query.udp_with_fallback(
        message, "127.0.0.1", port=settings.dns.port, timeout=3
    )
    return response


def answers(settings: Settings, name: str, rdtype: str) -> list[str]:
    response = query(settings, name, rdtype)
    wanted = dns.rdatatype.from_text(rdtype)
    return sorted(
        item.to_text() for rrset in response.answer if rrset.rdtype == wanted for item in rrset
    )


def wire_serial(settings: Settings, zone: str) -> int:
    (soa,) = answers(settings, zone, "SOA")
    return int(soa.split()[2])


def zone_of(client: TestClient, token: str, zone: str) -> dict[str, Any]:
    response = client.get(f"{ZONES}/{zone}", headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def events(settings: Settings, name: str) -> list[dict[str, Any]]:
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        rows = db.scalars(select(EventRecord).where(EventRecord.name == name)).all()
        found = [dict(row.data) for row in rows]
    engine.dispose()
    return found


@pytest.fixture
def john(client: TestClient, admin_token: str) -> str:
    token = create_user(client, admin_token, "john")
    add_domain(client, token, "example.com")
    return token


def test_template_answers_after_domain_add(
    client: TestClient, john: str, dns_settings: Settings
) -> None:
    assert answers(dns_settings, "www.example.com", "A") == ["127.0.0.1"]
    assert answers(dns_settings, "example.com", "A") == ["127.0.0.1"]
    assert answers(dns_settings, "example.com", "MX") == ["10 mail.example.com."]
    assert answers(dns_settings, "example.com", "TXT") == ['"v=spf1 a mx ~all"']
    assert answers(dns_settings, "example.com", "NS") == ["ns1.example.net.", "ns2.example.net."]
    zone = zone_of(client, john, "example.com")
    assert zone["kind"] == "domain"
    assert zone["owner"] == "john"
    assert zone["soa"]["serial"] == zone["serial"] == wire_serial(dns_settings, "example.com")
    assert str(zone["serial"]).startswith(zone["created_at"][:10].replace("-", ""))
    types = sorted({record["type"] for record in zone["records"]})
    assert types == ["A", "MX", "NS", "TXT"]
    listed = client.get(ZONES, headers=bearer(john)).json()
    assert [item["domain"] for item in listed] == ["example.com"]


def test_record_changes_visible_at_once(
    client: TestClient, john: str, dns_settings: Settings
) -> None:
    serial = wire_serial(dns_settings, "example.com")
    created = add_record(client, john, "example.com", name="api", type="A", content="192.0.2.7")
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["fqdn"] == "api.example.com."
    assert answers(dns_settings, "api.example.com", "A") == ["192.0.2.7"]
    assert wire_serial(dns_settings, "example.com") > serial
    serial = wire_serial(dns_settings, "example.com")

    changed = client.put(
        f"{ZONES}/example.com/records/{record['id']}",
        json={"name": "api.example.com.", "type": "A", "content": "192.0.2.8", "ttl": 300},
        headers=bearer(john),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["id"] == record["id"]
    assert answers(dns_settings, "api.example.com", "A") == ["192.0.2.8"]
    assert wire_serial(dns_settings, "example.com") > serial
    serial = wire_serial(dns_settings, "example.com")

    deleted = client.delete(f"{ZONES}/example.com/records/{record['id']}", headers=bearer(john))
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["success"] is True
    assert query(dns_settings, "api.example.com", "A").rcode() == dns.rcode.NXDOMAIN
    assert wire_serial(dns_settings, "example.com") > serial
    assert [e["content"] for e in events(dns_settings, "dns.record.created")] == ["192.0.2.7"]
    assert [e["content"] for e in events(dns_settings, "dns.record.updated")] == ["192.0.2.8"]
    assert [e["id"] for e in events(dns_settings, "dns.record.deleted")] == [record["id"]]


def test_record_types_over_the_wire(client: TestClient, john: str, dns_settings: Settings) -> None:
    bodies = [
        {"name": "v6", "type": "AAAA", "content": "2001:db8::1"},
        {"name": "blog", "type": "CNAME", "content": "www.example.com"},
        {"name": "@", "type": "MX", "content": "mx2.example.net", "priority": 20},
        {
            "name": "_sip._tcp",
            "type": "SRV",
            "content": "sip.example.com.",
            "priority": 10,
            "weight": 5,
            "port": 5060,
        },
        {"name": "sub", "type": "NS", "content": "ns.other.example"},
        {"name": "@", "type": "CAA", "content": "letsencrypt.org", "tag": "issue", "flags": 0},
        {"name": "long", "type": "TXT", "content": "x" * 600 + ' "quoted" ; end'},
    ]
    for body in bodies:
        response = add_record(client, john, "example.com", **body)
        assert response.status_code == 201, (body, response.text)
    assert answers(dns_settings, "v6.example.com", "AAAA") == ["2001:db8::1"]
    assert answers(dns_settings, "blog.example.com", "CNAME") == ["www.example.com."]
    assert "20 mx2.example.net." in answers(dns_settings, "example.com", "MX")
    srv = answers(dns_settings, "_sip._tcp.example.com", "SRV")
    assert srv == ["10 5 5060 sip.example.com."]
    assert answers(dns_settings, "example.com", "CAA") == ['0 issue "letsencrypt.org"']
    response = query(dns_settings, "long.example.com", "TXT")
    (txt,) = [item for rrset in response.answer for item in rrset]
    assert [len(part) for part in txt.strings] == [255, 255, 105]
    assert b"".join(txt.strings) == b"x" * 600 + b' "quoted" ; end'


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "a", "type": "A", "content": "2001:db8::1"}, "content"),
        ({"name": "a", "type": "AAAA", "content": "192.0.2.1"}, "content"),
        ({"name": "www", "type": "CNAME", "content": "other.example"}, "type"),
        ({"name": "@", "type": "CNAME", "content": "other.example"}, "name"),
        ({"name": "@", "type": "MX", "content": "mail.example.com"}, "priority"),
        ({"name": "@", "type": "MX", "content": "mail.example.com", "priority": 70000}, "priority"),
        ({"name": "x", "type": "SRV", "content": "a.example", "priority": 1, "weight": 1}, "port"),
        ({"name": "a;rm", "type": "A", "content": "192.0.2.1"}, "name"),
        ({"name": "a b", "type": "A", "content": "192.0.2.1"}, "name"),
        ({"name": "a\nb", "type": "A", "content": "192.0.2.1"}, "name"),
        ({"name": "$(id)", "type": "A", "content": "192.0.2.1"}, "name"),
        ({"name": "www.other.org.", "type": "A", "content": "192.0.2.1"}, "name"),
        ({"name": "a", "type": "A", "content": "192.0.2.1", "ttl": -1}, "ttl"),
        ({"name": "a", "type": "A", "content": "192.0.2.1", "ttl": 10**9}, "ttl"),
        ({"name": "a", "type": "CNAME", "content": "bad host;.example"}, "content"),
        ({"name": "a", "type": "TXT", "content": "line\nbreak"}, "content"),
        ({"name": "@", "type": "CAA", "content": "ca.example", "tag": "bogus"}, "tag"),
        (
            {"name": "@", "type": "CAA", "content": "ca.example", "tag": "issue", "flags": 300},
            "flags",
        ),
        ({"name": "a", "type": "SOA", "content": "x"}, "type"),
        ({"name": "a", "type": "A", "content": "192.0.2.1", "priority": 5}, "priority"),
        ({"name": "a", "type": "AAAA", "content": "fe80::1%eth0"}, "content"),
        ({"name": "@", "type": "MX", "content": "1.2.3.4.", "priority": 0}, "content"),
        ({"name": "a", "type": "CNAME", "content": "192.0.2.1"}, "content"),
    ],
)
def test_bad_records_rejected(
    client: TestClient, john: str, dns_settings: Settings, body: dict[str, Any], field: str
) -> None:
    before = zone_of(client, john, "example.com")
    wire_before = wire_serial(dns_settings, "example.com")
    response = add_record(client, john, "example.com", **body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] == "VALIDATION_ERROR"
    assert any(key.endswith(field) for key in error["details"]), error
    assert zone_of(client, john, "example.com") == before
    assert wire_serial(dns_settings, "example.com") == wire_before
    assert answers(dns_settings, "a.example.com", "A") == []


def test_cname_blocks_other_data(client: TestClient, john: str) -> None:
    assert add_record(client, john, "example.com", name="c", type="CNAME", content="x.example")
    response = add_record(client, john, "example.com", name="c", type="TXT", content="hi")
    assert response.status_code == 400, response.text
    assert "type" in response.json()["details"]


def test_other_account_zone_not_found(
    client: TestClient, john: str, admin_token: str, dns_settings: Settings
) -> None:
    jane = create_user(client, admin_token, "jane")
    record = add_record(client, john, "example.com", name="a", type="A", content="192.0.2.1")
    record_id = record.json()["id"]
    base = f"{ZONES}/example.com"
    body = {"name": "a", "type": "A", "content": "192.0.2.9"}
    assert client.get(base, headers=bearer(jane)).status_code == 404
    assert client.get(f"{base}/export", headers=bearer(jane)).status_code == 404
    assert client.post(f"{base}/records", json=body, headers=bearer(jane)).status_code == 404
    put = client.put(f"{base}/records/{record_id}", json=body, headers=bearer(jane))
    assert put.status_code == 404
    assert client.delete(f"{base}/records/{record_id}", headers=bearer(jane)).status_code == 404
    assert client.delete(base, headers=bearer(jane)).status_code == 404
    assert client.get(ZONES, headers=bearer(jane)).json() == []
    assert answers(dns_settings, "a.example.com", "A") == ["192.0.2.1"]
    taken = client.post(ZONES, json={"domain": "example.com"}, headers=bearer(jane))
    assert taken.status_code == 409


def test_dns_only_zone_lifecycle(client: TestClient, john: str, dns_settings: Settings) -> None:
    created = client.post(ZONES, json={"domain": "Example.ORG"}, headers=bearer(john))
    assert created.status_code == 201, created.text
    assert created.json()["kind"] == "dns_only"
    assert answers(dns_settings, "example.org", "NS") == ["ns1.example.net.", "ns2.example.net."]
    add_record(client, john, "example.org", name="www", type="A", content="192.0.2.3")
    assert answers(dns_settings, "www.example.org", "A") == ["192.0.2.3"]
    again = client.post(ZONES, json={"domain": "example.org"}, headers=bearer(john))
    assert again.status_code == 409
    hosted = client.post(ZONES, json={"domain": "example.com"}, headers=bearer(john))
    assert hosted.status_code == 409
    refused = client.delete(f"{ZONES}/example.com", headers=bearer(john))
    assert refused.status_code == 409
    deleted = client.delete(f"{ZONES}/example.org", headers=bearer(john))
    assert deleted.status_code == 200, deleted.text
    assert query(dns_settings, "www.example.org", "A").rcode() == dns.rcode.REFUSED


def test_domain_delete_removes_zone(client: TestClient, john: str, dns_settings: Settings) -> None:
    assert client.delete("/api/v1/domains/example.com", headers=bearer(john)).status_code == 200
    assert client.get(f"{ZONES}/example.com", headers=bearer(john)).status_code == 404
    assert query(dns_settings, "www.example.com", "A").rcode() == dns.rcode.REFUSED


def powerdns_row(settings: Settings) -> dict[str, Any]:
    (row,) = (row for row in collect(settings) if row["name"].startswith("powerdns ("))
    return row


def test_doctor_shows_the_panels_powerdns(dns_settings: Settings) -> None:
    with TestClient(create_app(dns_settings), client=("127.0.0.1", 40000)) as client:
        token = login(client, "admin", ADMIN_PASSWORD)
        add_domain(client, create_user(client, token, "john"), "example.com")
        running = powerdns_row(dns_settings)
        assert running["name"] == "powerdns (panel's)"
        assert running["running"] is True
        assert ", 1 zones, " in running["version"]
    stopped = powerdns_row(dns_settings)
    assert stopped["running"] is False
    assert "not answering" in stopped["version"]


def test_alias_gets_own_zone(client: TestClient, john: str, dns_settings: Settings) -> None:
    aliases = "/api/v1/domains/example.com/aliases"
    added = client.post(aliases, json={"alias": "example.net"}, headers=bearer(john))
    assert added.status_code == 201, added.text
    zone = zone_of(client, john, "example.net")
    assert zone["kind"] == "alias"
    assert answers(dns_settings, "www.example.net", "A") == ["127.0.0.1"]
    assert answers(dns_settings, "example.net", "MX") == ["10 mail.example.net."]
    add_record(client, john, "example.net", name="shop", type="A", content="192.0.2.8")
    assert answers(dns_settings, "shop.example.net", "A") == ["192.0.2.8"]
    rejected = client.delete(f"{ZONES}/example.net", headers=bearer(john))
    assert rejected.status_code == 409

    removed = client.delete(f"{aliases}/example.net", headers=bearer(john))
    assert removed.status_code == 200, removed.text
    assert client.get(f"{ZONES}/example.net", headers=bearer(john)).status_code == 404
    assert query(dns_settings, "www.example.net", "A").rcode() == dns.rcode.REFUSED
    assert answers(dns_settings, "www.example.com", "A") == ["127.0.0.1"]


def test_alias_zones_go_with_the_domain(
    client: TestClient, john: str, dns_settings: Settings
) -> None:
    aliases = "/api/v1/domains/example.com/aliases"
    for alias in ("example.net", "example.info"):
        added = client.post(aliases, json={"alias": alias}, headers=bearer(john))
        assert added.status_code == 201, added.text
    assert client.delete("/api/v1/domains/example.com", headers=bearer(john)).status_code == 200
    assert client.get(ZONES, headers=bearer(john)).json() == []
    for name in ("example.com", "example.net", "example.info"):
        assert query(dns_settings, name, "SOA").rcode() == dns.rcode.REFUSED


def test_alias_refused_under_another_accounts_zone(
    client: TestClient, john: str, admin_token: str, dns_settings: Settings
) -> None:
    jane = create_user(client, admin_token, "jane")
    created = client.post(ZONES, json={"domain": "example.org"}, headers=bearer(jane))
    assert created.status_code == 201, created.text
    aliases = "/api/v1/domains/example.com/aliases"
    for alias in ("example.org", "shop.example.org"):
        response = client.post(aliases, json={"alias": alias}, headers=bearer(john))
        assert response.status_code == 409, response.text
    listed = client.get(aliases, headers=bearer(john)).json()
    assert listed == []
    assert answers(dns_settings, "example.org", "NS") == ["ns1.example.net.", "ns2.example.net."]


def test_account_delete_removes_zones(
    client: TestClient, john: str, admin_token: str, dns_settings: Settings
) -> None:
    client.post(ZONES, json={"domain": "example.org"}, headers=bearer(john))
    reauth = client.post(
        "/api/v1/auth/reauth", json={"password": ADMIN_PASSWORD}, headers=bearer(admin_token)
    )
    assert reauth.status_code == 200, reauth.text
    response = client.delete("/api/v1/users/john", headers=bearer(admin_token))
    assert response.status_code == 200, response.text
    assert client.get(ZONES, headers=bearer(admin_token)).json() == []
    assert query(dns_settings, "example.org", "SOA").rcode() == dns.rcode.REFUSED
    assert query(dns_settings, "example.com", "SOA").rcode() == dns.rcode.REFUSED


def test_serial_rises_past_99_changes(
    client: TestClient, john: str, dns_settings: Settings
) -> None:
    record = add_record(client, john, "example.com", name="n", type="A", content="192.0.2.1")
    record_id = record.json()["id"]
    serials = [wire_serial(dns_settings, "example.com")]
    for change in range(150):
        response = client.put(
            f"{ZONES}/example.com/records/{record_id}",
            json={"name": "n", "type": "A", "content": f"192.0.2.{change % 250 + 1}"},
            headers=bearer(john),
        )
        assert response.status_code == 200, response.text
        serials.append(zone_of(client, john, "example.com")["serial"])
    assert all(later > earlier for earlier, later in pairwise(serials))
    assert wire_serial(dns_settings, "example.com") == serials[-1]
    assert serials[-1] < 2**32


def test_export_master_file(client: TestClient, john: str) -> None:
    add_record(client, john, "example.com", name="t", type="TXT", content="a" * 300)
    response = client.get(f"{ZONES}/example.com/export", headers=bearer(john))
    assert response.status_code == 200, response.text
    zone = dns.zone.from_text(response.text, origin="example.com.", relativize=False)
    assert zone.get_rdataset("www.example.com.", "A")[0].to_text() == "127.0.0.1"
    serial = zone.get_rdataset("example.com.", "SOA")[0].serial
    assert serial == zone_of(client, john, "example.com")["serial"]
    (txt,) = zone.get_rdataset("t.example.com.", "TXT")
    assert b"".join(txt.strings) == b"a" * 300


def test_package_without_dns_control(client: TestClient, admin_token: str) -> None:
    package = client.post(
        "/api/v1/packages",
        json={"name": "nodns", "dns_control": False},
        headers=bearer(admin_token),
    )
    assert package.status_code == 201, package.text
    token = create_user(client, admin_token, "mary", package="nodns")
    add_domain(client, token, "mary.example")
    response = add_record(client, token, "mary.example", name="a", type="A", content="192.0.2.1")
    assert response.status_code == 403, response.text
    assert zone_of(client, token, "mary.example")["editable"] is False
    by_admin = add_record(
        client, admin_token, "mary.example", name="a", type="A", content="192.0.2.1"
    )
    assert by_admin.status_code == 201, by_admin.text


def _block_port(port: int) -> ExitStack:
    """Hold the UDP and TCP DNS port so pdns_server can't start."""
    stack = ExitStack()
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        holder = stack.enter_context(socket.socket(socket.AF_INET, kind))
        holder.bind(("127.0.0.1", port))
    return stack


def test_powerdns_down_answers_503(client: TestClient, john: str, dns_settings: Settings) -> None:
    panel = client.app.state.panel  # type: ignore[attr-defined]
    before = zone_of(client, john, "example.com")
    panel.dns.stop()
    with _block_port(dns_settings.dns.port):
        response = add_record(client, john, "example.com", name="d", type="A", content="192.0.2.4")
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "SERVICE_UNAVAILABLE"
        record_id = before["records"][0]["id"]
        removed = client.delete(f"{ZONES}/example.com/records/{record_id}", headers=bearer(john))
        assert removed.status_code == 503
        zone = client.post(ZONES, json={"domain": "example.org"}, headers=bearer(john))
        assert zone.status_code == 503
        assert zone_of(client, john, "example.com") == before
        assert client.get(f"{ZONES}/example.org", headers=bearer(john)).status_code == 404
    assert events(dns_settings, "dns.record.created") == []
    again = add_record(client, john, "example.com", name="d", type="A", content="192.0.2.4")
    assert again.status_code == 201, again.text
    assert answers(dns_settings, "d.example.com", "A") == ["192.0.2.4"]
    assert answers(dns_settings, "www.example.com", "A") == ["127.0.0.1"]


def test_dns_only_zone_outlives_alias_it_served(
    client: TestClient, john: str, dns_settings: Settings
) -> None:
    created = client.post(ZONES, json={"domain": "example.net"}, headers=bearer(john))
    assert created.status_code == 201, created.text
    add_record(client, john, "example.net", name="@", type="TXT", content="important")
    aliases = "/api/v1/domains/example.com/aliases"
    added = client.post(aliases, json={"alias": "example.net"}, headers=bearer(john))
    assert added.status_code == 201, added.text
    rejected = client.delete(f"{ZONES}/example.net", headers=bearer(john))
    assert rejected.status_code == 409
    removed = client.delete(f"{aliases}/example.net", headers=bearer(john))
    assert removed.status_code == 200, removed.text
    zone = zone_of(client, john, "example.net")
    assert zone["kind"] == "dns_only"
    assert answers(dns_settings, "example.net", "TXT") == ['"important"']


@pytest.mark.parametrize("name", ["co.uk", "github.io", "in-addr.arpa", "127.0.0.1", "1.2.3.4.5"])
def test_public_suffixes_and_addresses_refused(client: TestClient, john: str, name: str) -> None:
    for path, body in (
        (ZONES, {"domain": name}),
        ("/api/v1/domains", {"domain": name}),
        ("/api/v1/domains/example.com/aliases", {"alias": name}),
    ):
        response = client.post(path, json=body, headers=bearer(john))
        assert response.status_code == 400, (path, response.text)


def test_parent_of_another_accounts_zone_refused(
    client: TestClient, john: str, admin_token: str
) -> None:
    jane = create_user(client, admin_token, "jane")
    created = client.post(ZONES, json={"domain": "deep.parent.test"}, headers=bearer(jane))
    assert created.status_code == 201, created.text
    for path, body in (
        ("/api/v1/domains", {"domain": "parent.test"}),
        (ZONES, {"domain": "parent.test"}),
        ("/api/v1/domains/example.com/aliases", {"alias": "parent.test"}),
    ):
        response = client.post(path, json=body, headers=bearer(john))
        assert response.status_code == 409, (path, response.text)
    own = client.post("/api/v1/domains", json={"domain": "deep.parent.test"}, headers=bearer(jane))
    assert own.status_code == 201, own.text
