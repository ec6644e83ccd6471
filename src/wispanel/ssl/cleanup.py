"""Removal of certificate directories whose domain is gone.

Deleting a domain removes its certificate row through the foreign key, but not its files.
The `domain.deleted` event removes them at once. A sweep during the periodic renewal check
removes what the event does not cover: domains deleted with their account, and any
directory left by a crash.
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


def sweep_orphans(panel: PanelContext) -> list[str]:
    """Delete the certificate directories of names that no domain row has; return them."""
    root = certificate_root(panel)
    if not root.is_dir():
        return []
    with Session(panel.sync_engine) as db:
        known = set(db.scalars(select(Domain.name)).all())
    removed = []
    for entry in sorted(root.iterdir()):
        try:
            name = validate_hostname(entry.name, "domain")
        except InvalidNameError:
            continue  # not a directory the panel made
        if name == entry.name and name not in known and remove_directory(panel, name):
            removed.append(name)
    return removed


def subscribe_cleanup(panel: PanelContext) -> None:
    """Remove a deleted domain's certificate files once its deletion is committed."""

    def on_event(published: PublishedEvent) -> None:
        if published.name != "domain.deleted":
            return
        domain = str(published.data.get("domain", ""))
        try:
            remove_directory(panel, domain)
        except (InvalidNameError, OSError) as error:
            log.error("ssl.files_remove_failed", domain=domain, error=str(error))

    panel.events.subscribe(on_event)
