"""Removal of certificate directories whose domain is gone.

Deleting a domain removes its certificate row through the foreign key, but not its files.
The `domain.deleted` event removes them at once, an account hook removes those of an
account's domains, and `domain.created` removes a directory left for the new domain's name.
A sweep during the periodic renewal check removes any directory left by a crash.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from wispanel.core.context import PanelContext
from wispanel.core.events import PublishedEvent
from wispanel.domains import hosting
from wispanel.domains.models import Domain
from wispanel.host.errors import InvalidNameError
from wispanel.host.paths import validate_hostname

log = structlog.get_logger(__name__)


def certificate_root(panel: PanelContext) -> Path:
    # `certificate_dir` puts every domain's directory straight under one root.
    return hosting.certificate_dir(panel, "example.invalid").parent


def remove_directory(panel: PanelContext, domain: str) -> bool:
    """Delete the certificate directory of `domain`; return whether one existed."""
    directory = hosting.certificate_dir(panel, validate_hostname(domain, "domain"))
    if not directory.is_dir() or directory.is_symlink():
        return False
    shutil.rmtree(directory)
    log.info("ssl.files_removed", domain=domain)
    return True


def remove_unknown(panel: PanelContext, known: set[str]) -> list[str]:
    """Delete the certificate directories of names not in `known`; return those names."""
    root = certificate_root(panel)
    if not root.is_dir():
        return []
    removed = []
    for entry in sorted(root.iterdir()):
        try:
            name = validate_hostname(entry.name, "domain")
        except InvalidNameError:
            continue  # not a directory the panel made
        if name == entry.name and name not in known and remove_directory(panel, name):
            removed.append(name)
    return removed


def sweep_orphans(panel: PanelContext) -> list[str]:
    """Delete the certificate directories of names that no domain row has; return them."""
    with Session(panel.sync_engine) as db:
        known = set(db.scalars(select(Domain.name)).all())
    return remove_unknown(panel, known)


def subscribe_cleanup(panel: PanelContext) -> None:
    """Remove a domain's certificate directory once its creation or deletion is committed.

    A directory that exists when a domain is created was left by an earlier domain of the
    same name, possibly another account's, so its certificate, key and pending key must
    not be used for the new domain.
    """

    def on_event(published: PublishedEvent) -> None:
        if published.name not in ("domain.created", "domain.deleted"):
            return
        domain = str(published.data.get("domain", ""))
        try:
            removed = remove_directory(panel, domain)
        except (InvalidNameError, OSError) as error:
            log.error("ssl.files_remove_failed", domain=domain, error=str(error))
            return
        if removed and published.name == "domain.created":
            log.warning("ssl.leftover_files_removed", domain=domain)

    panel.events.subscribe(on_event)
