"""Requests and responses of the certificate endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from wispanel.core.schemas import RequestModel, documented_as_required

KeyType = Literal["ec256", "ec384", "rsa2048", "rsa3072", "rsa4096"]
DOMAIN_FIELD = Field(default=None, max_length=1024, examples=["example.com"])


class IssueRequest(RequestModel, json_schema_extra=documented_as_required("domain")):
    domain: str | None = DOMAIN_FIELD
    include_www: bool = Field(
        default=True, description="Add www.<domain>, and the aliases with their www names"
    )
    wildcard: bool = Field(
        default=False, description="Add *.<domain>, validated by DNS-01 through the panel's DNS"
    )


class RenewRequest(RequestModel, json_schema_extra=documented_as_required("domain")):
    domain: str | None = DOMAIN_FIELD


class InstallRequest(RequestModel, json_schema_extra=documented_as_required("domain")):
    domain: str | None = DOMAIN_FIELD
    certificate: str = Field(
        description="PEM certificate; further certificates form the chain",
        examples=["-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n"],
    )
    private_key: str | None = Field(
        default=None,
        description="Unencrypted PEM key; omit it to use the key of the last CSR from /ssl/csr",
    )
    chain: str | None = Field(default=None, description="PEM intermediate certificates")


class CsrRequest(RequestModel, json_schema_extra=documented_as_required("domain")):
    domain: str | None = DOMAIN_FIELD
    names: list[str] | None = Field(
        default=None,
        max_length=100,
        description="Names for the SAN: the domain, its aliases or names under them (`*.` for"
        " a wildcard); defaults to the domain and www.<domain>",
        examples=[["example.com", "www.example.com"]],
    )
    key_type: KeyType | None = Field(default=None, description="Defaults to the panel's key type")


class CsrOut(BaseModel):
    success: bool = True
    domain: str
    names: list[str]
    key_type: str
    csr: str = Field(description="PEM certificate signing request; the key stays on the server")


class JobAccepted(BaseModel):
    success: bool = True
    message: str = Field(examples=["Certificate issuance for example.com started"])
    job_id: str = Field(examples=["3f2c9a4e5b6d4c1e8f7a6b5c4d3e2f1a"])
    status: str = Field(examples=["queued"])
    url: str = Field(examples=["/api/v1/jobs/3f2c9a4e5b6d4c1e8f7a6b5c4d3e2f1a"])


class ServedOut(BaseModel):
    """The certificate the web server sends in a TLS handshake for the domain (SNI)."""

    port: int
    fingerprint_sha256: str | None = Field(description="None when no certificate was served")
    matches: bool = Field(description="Whether the served certificate is the installed one")


class CertificateOut(BaseModel):
    domain: str
    owner: str
    source: str = Field(description="acme or uploaded")
    subject: str
    issuer: str
    names: list[str]
    not_before: datetime
    not_after: datetime
    days_remaining: int
    serial: str
    fingerprint_sha256: str
    ssl_enabled: bool
    served: ServedOut | None = Field(
        default=None, description="Only in GET /ssl/certificates/{domain}"
    )
