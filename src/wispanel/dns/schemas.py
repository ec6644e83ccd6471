"""Request and response bodies of DNS zones and records."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from wispanel.core.schemas import Line, RequestModel, ShortLine, documented_as_required

RecordType = Literal["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "CAA"]


class ZoneCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra=documented_as_required("domain"))

    domain: str | None = Field(
        default=None,
        max_length=1024,
        description="A name not hosted here as a domain; lowercased and IDNA-encoded",
        examples=["example.org"],
    )
    owner: ShortLine | None = Field(
        default=None,
        description="Admins and resellers: the account that owns the zone (default: you)",
        examples=["john"],
    )


class RecordIn(RequestModel):
    """One record. Host names in `content` are taken as fully qualified."""

    name: ShortLine = Field(
        default="@",
        description="`@` or empty for the apex, a name relative to the zone (`www`), or a"
        " fully qualified name inside it (`www.example.com.`)",
        examples=["www"],
    )
    type: RecordType = Field(examples=["A"])
    content: Line = Field(
        max_length=4096,
        description="A/AAAA: the address; CNAME, NS, MX, SRV: the target host name; TXT: the"
        " text (split into 255-byte strings automatically); CAA: the value",
        examples=["203.0.113.10"],
    )
    ttl: int | None = Field(
        default=None, description="Seconds, within the server's TTL range", examples=[3600]
    )
    priority: int | None = Field(default=None, description="MX and SRV: 0-65535", examples=[10])
    weight: int | None = Field(default=None, description="SRV: 0-65535", examples=[5])
    port: int | None = Field(default=None, description="SRV: 0-65535", examples=[5060])
    flags: int | None = Field(default=None, description="CAA: 0-255 (default 0)", examples=[0])
    tag: ShortLine | None = Field(
        default=None, description="CAA: issue, issuewild or iodef", examples=["issue"]
    )


class RecordOut(BaseModel):
    id: int
    name: str = Field(description="Relative to the zone; `@` is the apex", examples=["www"])
    fqdn: str = Field(examples=["www.example.com."])
    type: str = Field(examples=["A"])
    content: str = Field(examples=["203.0.113.10"])
    ttl: int = Field(examples=[3600])
    priority: int | None = None
    weight: int | None = None
    port: int | None = None
    flags: int | None = None
    tag: str | None = None
    data: str = Field(
        description="The record data in master-file format", examples=["203.0.113.10"]
    )


class SoaOut(BaseModel):
    primary: str = Field(examples=["ns1.example.net."])
    contact: str = Field(examples=["hostmaster.example.com."])
    serial: int = Field(examples=[2025010101])
    refresh: int
    retry: int
    expire: int
    minimum: int


class ZoneSummary(BaseModel):
    id: int
    domain: str = Field(examples=["example.com"])
    kind: Literal["domain", "alias", "dns_only"]
    owner: str = Field(examples=["john"])
    serial: int = Field(examples=[2025010101])
    records_count: int
    created_at: datetime
    updated_at: datetime


class ZoneOut(ZoneSummary):
    soa: SoaOut
    nameservers: list[str]
    editable: bool = Field(description="Whether the owner's package allows editing (dns_control)")
    records: list[RecordOut]
