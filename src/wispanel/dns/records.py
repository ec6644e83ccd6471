"""Rules for record names and data by type, and their rendering in master-file format."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from wispanel.core.config import DnsSettings
from wispanel.core.errors import Conflict, ValidationFailed
from wispanel.dns.schemas import RecordIn

LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
CAA_TAG = re.compile(r"[a-z0-9]{1,15}")
KNOWN_CAA_TAGS = frozenset({"issue", "issuewild", "iodef"})
TXT_CHUNK_BYTES = 255
MAX_SERIAL = 2**32 - 1
SOA_TIMERS = (10800, 3600, 604800, 3600)  # refresh, retry, expire, negative-answer TTL
APEX = "@"


@dataclass(frozen=True)
class RecordData:
    """A checked record: its name relative to the zone and its parts."""

    name: str
    type: str
    content: str
    ttl: int
    priority: int | None = None
    weight: int | None = None
    port: int | None = None
    flags: int | None = None
    tag: str | None = None


def invalid(field: str, message: str, reason: str) -> ValidationFailed:
    return ValidationFailed(message, details={field: [reason]})


def relative_name(raw: str, zone: str) -> str:
    """Return the record name relative to the zone (`@` for the apex), or raise 400.

    A name with a trailing dot is absolute. Without one, a name equal to the zone or ending
    in `.<zone>` is taken as fully qualified too, and anything else as relative.
    """
    text = raw.strip().lower()
    if text in ("", APEX, f"{zone}.", zone):
        return APEX
    absolute = text.endswith(".")
    text = text.removesuffix(".")
    if text.endswith(f".{zone}"):
        text = text.removesuffix(f".{zone}")
    elif absolute:
        raise invalid("name", f"name {raw[:80]!r} is not inside the zone {zone}", "outside zone")
    labels = text.split(".")
    for index, label in enumerate(labels):
        if label == "*" and index == 0:
            continue
        if not LABEL.fullmatch(label):
            raise invalid(
                "name",
                f"name {raw[:80]!r} is invalid: labels are 1-63 letters, digits, _ or -"
                " (a leading * for wildcards), separated by dots",
                "invalid name",
            )
    if len(text) + len(zone) + 2 > 254:
        raise invalid("name", "name is longer than 253 characters with the zone", "too long")
    return text


def fqdn(name: str, zone: str) -> str:
    return f"{zone}." if name == APEX else f"{name}.{zone}."


def _host(raw: str, field: str = "content", *, allow_root: bool = False) -> str:
    """Return a host name as an absolute name with a trailing dot, or raise 400."""
    text = raw.strip().lower()
    if allow_root and text == ".":
        return "."
    try:
        text = text.removesuffix(".").encode("idna").decode("ascii")
    except UnicodeError:
        text = "\x00"
    labels = text.split(".")
    # A last label of digits makes an address, which a host name field must not hold.
    if (
        len(text) > 253
        or len(labels) < 2
        or not all(LABEL.fullmatch(x) for x in labels)
        or labels[-1].isdigit()
    ):
        raise invalid(
            field,
            f"{field} {raw[:80]!r} is not a valid host name such as mail.example.com",
            "invalid host name",
        )
    return f"{text}."


def _number(value: int | None, field: str, record_type: str, maximum: int) -> int:
    if value is None:
        raise invalid(field, f"{field} is required for {record_type} records", "required")
    if not 0 <= value <= maximum:
        raise invalid(field, f"{field} must be between 0 and {maximum}", f"0-{maximum}")
    return value


def _refuse_extra(body: RecordIn, allowed: Sequence[str]) -> None:
    for field in ("priority", "weight", "port", "flags", "tag"):
        if field not in allowed and getattr(body, field) is not None:
            raise invalid(field, f"{field} does not apply to {body.type} records", "not allowed")


def _ttl(value: int | None, settings: DnsSettings) -> int:
    if value is None:
        return settings.ttl_default
    if not settings.ttl_min <= value <= settings.ttl_max:
        raise invalid(
            "ttl",
            f"ttl must be between {settings.ttl_min} and {settings.ttl_max} seconds",
            f"{settings.ttl_min}-{settings.ttl_max}",
        )
    return value


def _address(raw: str, version: int) -> str:
    try:
        address = ipaddress.ip_address(raw.strip())
    except ValueError:
        address = None
    # A scope (fe80::1%eth0) names an interface of one host; DNS can't carry it.
    scoped = isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None
    if address is None or address.version != version or scoped:
        family = "IPv4" if version == 4 else "IPv6"
        raise invalid("content", f"content {raw[:80]!r} is not an {family} address", family)
    return str(address)


def check_record(body: RecordIn, zone: str, settings: DnsSettings) -> RecordData:
    """Validate a record by its type and return it in normal form, or raise 400."""
    name = relative_name(body.name, zone)
    ttl = _ttl(body.ttl, settings)
    kind = body.type
    extra: dict[str, int | str | None] = {}
    if kind == "A":
        _refuse_extra(body, ())
        content = _address(body.content, 4)
    elif kind == "AAAA":
        _refuse_extra(body, ())
        content = _address(body.content, 6)
    elif kind in ("CNAME", "NS"):
        _refuse_extra(body, ())
        if kind == "CNAME" and name == APEX:
            raise invalid("name", "A CNAME record can't be at the zone apex", "CNAME at apex")
        content = _host(body.content)
    elif kind == "MX":
        _refuse_extra(body, ("priority",))
        extra["priority"] = _number(body.priority, "priority", kind, 65535)
        content = _host(body.content, allow_root=True)
    elif kind == "SRV":
        _refuse_extra(body, ("priority", "weight", "port"))
        for field in ("priority", "weight", "port"):
            extra[field] = _number(getattr(body, field), field, kind, 65535)
        content = _host(body.content, allow_root=True)
    elif kind == "TXT":
        _refuse_extra(body, ())
        content = body.content
        if not content:
            raise invalid("content", "content of a TXT record can't be empty", "required")
    else:  # CAA
        _refuse_extra(body, ("flags", "tag"))
        extra["flags"] = _number(body.flags if body.flags is not None else 0, "flags", kind, 255)
        tag = (body.tag or "").strip().lower()
        if not CAA_TAG.fullmatch(tag) or tag not in KNOWN_CAA_TAGS:
            raise invalid("tag", "tag must be issue, issuewild or iodef", "invalid CAA tag")
        extra["tag"] = tag
        content = body.content.strip()
        if not content and tag == "iodef":
            raise invalid("content", "content of a CAA iodef record can't be empty", "required")
    return RecordData(name=name, type=kind, content=content, ttl=ttl, **extra)  # type: ignore[arg-type]


def check_name_conflicts(new: RecordData, others: Sequence[RecordData]) -> None:
    """Raise 400 when a CNAME would share its name with other data, or the reverse."""
    same_name = [record for record in others if record.name == new.name]
    if new.type == "CNAME" and same_name:
        raise ValidationFailed(
            f"A CNAME record must be alone at its name, and {new.name} has other records",
            details={"type": ["CNAME beside other records"]},
        )
    if new.type != "CNAME" and any(record.type == "CNAME" for record in same_name):
        raise ValidationFailed(
            f"{new.name} has a CNAME record, which must be alone at its name; remove it first",
            details={"type": ["name has a CNAME record"]},
        )


def quote(text: str) -> str:
    """Quote one character-string, escaping backslashes, quotes and non-printable bytes."""
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def split_txt(text: str) -> list[str]:
    """Split text into character-strings of at most 255 bytes, never inside a character."""
    chunks: list[str] = []
    current = ""
    for char in text:
        if len((current + char).encode("utf-8")) > TXT_CHUNK_BYTES:
            chunks.append(current)
            current = ""
        current += char
    chunks.append(current)
    return chunks


def record_data(record: RecordData) -> str:
    """Return the record data in presentation format, as PowerDNS and zone files take it."""
    if record.type == "MX":
        return f"{record.priority} {record.content}"
    if record.type == "SRV":
        return f"{record.priority} {record.weight} {record.port} {record.content}"
    if record.type == "TXT":
        return " ".join(quote(chunk) for chunk in split_txt(record.content))
    if record.type == "CAA":
        return f"{record.flags} {record.tag} {quote(record.content)}"
    return record.content


def next_serial(current: int, today: date) -> int:
    """Return the next YYYYMMDDnn serial: today's first, else one more than the current.

    Past nn=99 the serial simply grows by one, which is still larger than the current one.
    """
    first_of_today = int(today.strftime("%Y%m%d")) * 100 + 1
    serial = max(current + 1, first_of_today)
    if serial > MAX_SERIAL:
        raise Conflict(
            f"The zone's SOA serial {current} can't grow past {MAX_SERIAL}",
            details={"serial": ["exhausted"]},
        )
    return serial


def soa_data(zone: str, serial: int, settings: DnsSettings) -> str:
    contact = settings.soa_contact or f"hostmaster.{zone}."
    primary = settings.nameservers[0]
    refresh, retry, expire, minimum = SOA_TIMERS
    return f"{primary} {contact} {serial} {refresh} {retry} {expire} {minimum}"
