"""Domain names: normalisation, uniqueness across domains and aliases, and ownership."""

from __future__ import annotations

import functools
import re
from pathlib import PurePosixPath

from publicsuffixlist import PublicSuffixList
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.core.errors import Conflict, ValidationFailed
from wispanel.dns.models import DnsZone
from wispanel.domains.models import Domain, DomainAlias
from wispanel.host.errors import InvalidNameError
from wispanel.host.paths import validate_hostname

DOCUMENT_ROOT_PATTERN = re.compile(r"[A-Za-z0-9._+@-]+(?:/[A-Za-z0-9._+@-]+)*")
# DNS names have at most 253 characters; a hosted name also answers as `mail.<name>`.
MAX_HOSTED_NAME_LENGTH = 253 - len("mail.")
# Top-level directories of a home that hold the panel's own data, never a site.
RESERVED_HOME_DIRECTORIES = frozenset({"logs", "tmp", "backups", "mail"})


def normalise(raw: str, field: str = "domain") -> str:
    """Return the lowercase ASCII form of a name, or raise 400 naming the field."""
    try:
        return validate_hostname(raw.strip(), field)
    except InvalidNameError as error:
        raise ValidationFailed(
            f"Invalid {field} {raw[:80]!r}: {error.rule}", details={field: [error.rule]}
        ) from error


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    return PublicSuffixList()


def check_registrable(name: str, field: str = "domain") -> str:
    """Refuse a normalised name that is an address or a public suffix such as co.uk.

    Hosting `co.uk` or `github.io` would claim every name under it for one account, and a
    name ending in a number is an IP address, not a domain.
    """
    if len(name) > MAX_HOSTED_NAME_LENGTH:
        raise ValidationFailed(
            f"{field} may be at most {MAX_HOSTED_NAME_LENGTH} characters, so that its www. and"
            " mail. names stay within DNS's 253",
            details={field: [f"at most {MAX_HOSTED_NAME_LENGTH} characters"]},
        )
    if name.rsplit(".", 1)[-1].isdigit():
        raise ValidationFailed(
            f"{field} {name} looks like an IP address; use a domain name",
            details={field: ["an address, not a name"]},
        )
    if _public_suffixes().is_public(name):
        raise ValidationFailed(
            f"{field} {name} is a public suffix under which anyone registers names;"
            " use a name registered under it",
            details={field: ["public suffix"]},
        )
    return name


def unicode_name(name: str) -> str:
    try:
        return name.encode("ascii").decode("idna")
    except UnicodeError:
        return name


def check_document_root(value: str) -> str:
    """Return a document root relative to the home, or raise 400 saying what is wrong."""
    text = value.strip().strip("/")
    if not text or not DOCUMENT_ROOT_PATTERN.fullmatch(text):
        raise ValidationFailed(
            "document_root must be a path relative to the home made of letters, digits"
            " and . _ + @ - separated by /",
            details={"document_root": ["invalid path"]},
        )
    parts = PurePosixPath(text).parts
    if any(part in (".", "..") for part in parts):
        raise ValidationFailed(
            "document_root must not contain . or .. components",
            details={"document_root": ["invalid path"]},
        )
    if parts[0] in RESERVED_HOME_DIRECTORIES:
        raise ValidationFailed(
            f"document_root can't be under {parts[0]}/, which the panel uses; choose another",
            details={"document_root": ["reserved directory"]},
        )
    return text


def document_root_from_request(value: str, home: str) -> str:
    """Accept a path relative to the home, or an absolute one inside it."""
    prefix = home.rstrip("/") + "/"
    if value.startswith(prefix):
        value = value[len(prefix) :]
    elif value.startswith("/"):
        raise ValidationFailed(
            f"document_root must be relative to the home {home}",
            details={"document_root": ["outside the home"]},
        )
    return check_document_root(value)


def _suffixes(name: str) -> list[str]:
    """Return the parent names of ``name`` with at least two labels, nearest first."""
    labels = name.split(".")
    return [".".join(labels[index:]) for index in range(1, len(labels) - 1)]


async def _owner_of_name(db: AsyncSession, name: str) -> int | None:
    """Return the owner id of the domain or alias called ``name``, if one exists."""
    owner = await db.scalar(select(Domain.owner_id).where(Domain.name == name))
    if owner is not None:
        return owner
    return await db.scalar(
        select(Domain.owner_id)
        .join(DomainAlias, DomainAlias.domain_id == Domain.id)
        .where(DomainAlias.name == name)
    )


async def check_name_available(db: AsyncSession, name: str, owner_id: int) -> None:
    """Raise 409 unless ``name`` may be added for the owner.

    The name and its `www.` twin must be free among every domain and alias, and no parent
    or child name, domain, alias or DNS zone, may belong to another account.
    """
    variants = {name, f"www.{name}"}
    if name.startswith("www."):
        variants.add(name.removeprefix("www."))
    for variant in sorted(variants):
        if await _owner_of_name(db, variant) is not None:
            if variant == name:
                raise Conflict(f"Domain {name} already exists", details={"domain": ["taken"]})
            raise Conflict(
                f"{name} can't be added because {variant} exists, and each domain also"
                " answers for its www. name",
                details={"domain": ["taken"]},
            )
    for parent in _suffixes(name):
        owner = await _owner_of_name(db, parent)
        if owner is None:
            owner = await db.scalar(select(DnsZone.owner_id).where(DnsZone.name == parent))
        if owner is not None and owner != owner_id:
            raise Conflict(
                f"{name} is under {parent}, which belongs to another account",
                details={"domain": ["parent domain belongs to another account"]},
            )
    suffix = f".{name}"
    child_domains = select(Domain.owner_id).where(
        Domain.name.endswith(suffix, autoescape=True), Domain.owner_id != owner_id
    )
    child_aliases = (
        select(Domain.owner_id)
        .join(DomainAlias, DomainAlias.domain_id == Domain.id)
        .where(DomainAlias.name.endswith(suffix, autoescape=True), Domain.owner_id != owner_id)
    )
    child_zones = select(DnsZone.owner_id).where(
        DnsZone.name.endswith(suffix, autoescape=True), DnsZone.owner_id != owner_id
    )
    for children in (child_domains, child_aliases, child_zones):
        if (await db.scalars(children.limit(1))).first() is None:
            continue
        raise Conflict(
            f"{name} has subdomains or zones under it that belong to another account",
            details={"domain": ["subdomains belong to another account"]},
        )


async def find_parent(db: AsyncSession, name: str, owner_id: int) -> Domain | None:
    """Return the owner's nearest domain that ``name`` is a subdomain of, if any."""
    for parent in _suffixes(name):
        domain = (
            await db.scalars(
                select(Domain).where(Domain.name == parent, Domain.owner_id == owner_id)
            )
        ).first()
        if domain is not None:
            return domain
    return None
