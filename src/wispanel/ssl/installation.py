"""Putting a certificate in front of a domain's site, and taking it away, with nothing half done.

Both directions follow the same steps: stage the files (the previous ones are kept in
memory), change the database row and `ssl_enabled`, re-render the site through the web
host's commit, and then check what nginx serves on the HTTPS port. A failure at any step
puts the previous files and settings back.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import anyio
import structlog
from cryptography import x509
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.core.context import PanelContext
from wispanel.core.errors import ApplyFailed
from wispanel.domains import hosting
from wispanel.domains.models import Domain
from wispanel.host import certificates
from wispanel.host.files import FileTransaction
from wispanel.host.paths import validate_hostname
from wispanel.ssl.models import NAME_TEXT_LENGTH, Certificate
from wispanel.users.models import User

log = structlog.get_logger(__name__)


def directory_of(panel: PanelContext, domain: str) -> Path:
    return hosting.certificate_dir(panel, validate_hostname(domain, "domain"))


def check_address(panel: PanelContext) -> str:
    """Return the loopback-reachable address of nginx's HTTPS listener."""
    address = panel.settings.web.listen_address
    if address == "*":
        return "127.0.0.1"
    return address.strip("[]")


def served_fingerprint(panel: PanelContext, domain: str, timeout: float = 5.0) -> str | None:
    """Return the fingerprint nginx presents for `domain` on the HTTPS port, or None."""
    served = certificates.served_certificate(
        check_address(panel), panel.settings.web.https_port, domain, timeout
    )
    return certificates.fingerprint(served) if served is not None else None


def wait_until_served(panel: PanelContext, domain: str, expected: str) -> bool:
    """Poll the HTTPS port until it serves the certificate with the `expected` fingerprint.

    nginx's workers pick up a reload asynchronously, so the first handshakes after it may
    still see the old configuration.
    """
    deadline = time.monotonic() + panel.settings.ssl.verify_timeout_seconds
    while True:
        served = served_fingerprint(panel, domain, timeout=2.0)
        if served == expected:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def verify_served(panel: PanelContext, domain: str, expected: str) -> str | None:
    """Wait until nginx serves the new certificate; return what failed, or None.

    The commit reloaded nginx already, because the certificate's digest is part of the
    site's server block.
    """
    if wait_until_served(panel, domain, expected):
        return None
    return (
        f"nginx did not serve the new certificate for {domain} on port"
        f" {panel.settings.web.https_port}"
    )


async def record_of(db: AsyncSession, domain: Domain) -> Certificate | None:
    row: Certificate | None = await db.scalar(
        select(Certificate).where(Certificate.domain_id == domain.id)
    )
    return row


def _fit(text: str) -> str:
    """Shorten a subject or issuer to its column, marking the cut with "..."."""
    if len(text) <= NAME_TEXT_LENGTH:
        return text
    return text[: NAME_TEXT_LENGTH - 3] + "..."


def _fill(row: Certificate, leaf: x509.Certificate, source: str) -> None:
    info = certificates.describe(leaf)
    row.source = source
    row.names = list(info.names)
    row.subject = _fit(info.subject)
    row.issuer = _fit(info.issuer)
    row.serial = info.serial
    row.not_before = info.not_before
    row.not_after = info.not_after
    row.fingerprint_sha256 = info.fingerprint_sha256
    row.updated_at = datetime.now(UTC)


async def _render(db: AsyncSession, panel: PanelContext, domain: Domain, owner: User) -> None:
    site = hosting.site_config(panel, domain, owner)
    await hosting.commit_with_host(db, panel, {domain.name: site})


async def install(
    db: AsyncSession,
    panel: PanelContext,
    domain: Domain,
    owner: User,
    *,
    fullchain: bytes,
    key: bytes,
    source: str,
) -> Certificate:
    """Install a checked certificate and key for the domain and verify nginx serves it.

    Commits the session. On failure the previous certificate, key, row and `ssl_enabled`
    come back, and ApplyFailed (or the web host's error) is raised.
    """
    leaf = certificates.load_chain(fullchain)[0]
    expected = certificates.fingerprint(leaf)
    directory = directory_of(panel, domain.name)
    row = await record_of(db, domain)
    previous = _snapshot(domain, row)
    files: FileTransaction = await hosting.on_host(
        certificates.stage_files, directory, fullchain, key
    )
    try:
        if row is None:
            row = Certificate(domain_id=domain.id)
            db.add(row)
        _fill(row, leaf, source)
        domain.ssl_enabled = True
        await db.flush()
        await _render(db, panel, domain, owner)
    except BaseException:
        # NOTE: when nginx fails to reload after the commit (ServiceUnavailable), the row
        # already describes the new certificate while the old files come back. The next
        # install, renewal or delete brings them in line again.
        await anyio.to_thread.run_sync(files.rollback)
        raise
    problem = await anyio.to_thread.run_sync(verify_served, panel, domain.name, expected)
    if problem is not None:
        await anyio.to_thread.run_sync(files.rollback)
        # The restored files have another digest, so re-rendering reloads nginx with them.
        await _restore(db, panel, domain, owner, previous)
        raise ApplyFailed(f"{problem}; the previous certificate and settings were restored")
    files.commit()
    log.info("ssl.installed", domain=domain.name, source=source, fingerprint=expected)
    return row


async def remove(db: AsyncSession, panel: PanelContext, domain: Domain, owner: User) -> None:
    """Remove the certificate files and row, turn HTTPS off and re-render the site."""
    directory = directory_of(panel, domain.name)
    row = await record_of(db, domain)
    files: FileTransaction = await hosting.on_host(certificates.stage_removal, directory)
    try:
        if row is not None:
            await db.delete(row)
        domain.ssl_enabled = False
        await db.flush()
        await _render(db, panel, domain, owner)
    except BaseException:
        await anyio.to_thread.run_sync(files.rollback)
        raise
    files.commit()
    log.info("ssl.removed", domain=domain.name)


_Snapshot = tuple[bool, dict[str, object] | None]


def _snapshot(domain: Domain, row: Certificate | None) -> _Snapshot:
    if row is None:
        return domain.ssl_enabled, None
    fields = (
        "source",
        "names",
        "subject",
        "issuer",
        "serial",
        "not_before",
        "not_after",
        "fingerprint_sha256",
    )
    return domain.ssl_enabled, {name: getattr(row, name) for name in fields}


async def _restore(
    db: AsyncSession, panel: PanelContext, domain: Domain, owner: User, previous: _Snapshot
) -> None:
    """Bring back the row and `ssl_enabled` of before a failed install, and re-render."""
    ssl_enabled, values = previous
    row = await record_of(db, domain)
    if values is None and row is not None:
        await db.delete(row)
    elif values is not None and row is not None:
        for name, value in values.items():
            setattr(row, name, value)
    domain.ssl_enabled = ssl_enabled
    await db.flush()
    try:
        await _render(db, panel, domain, owner)
    except Exception:
        log.exception("ssl.restore_failed", domain=domain.name)
        raise
