"""From domain rows to the web host: build site and pool configs, stage them, commit both.

`commit_with_host` is the one sequence every change follows: stage the host files (written
and checked), commit the database, then reload. A failed check restores the files and the
database transaction rolls back, so nothing is half applied.
"""

from __future__ import annotations

import os
import pwd
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.core.config import Profile
from wispanel.core.context import PanelContext
from wispanel.core.errors import ApplyFailed, PanelError, ServiceUnavailable, ValidationFailed
from wispanel.domains.models import Domain
from wispanel.host.accounts import account_host
from wispanel.host.errors import (
    CommandNotFound,
    DaemonError,
    HostError,
    InvalidNameError,
    UnsafePathError,
)
from wispanel.host.nginx import SiteConfig, TlsFiles
from wispanel.host.nginx_directives import DirectiveError
from wispanel.host.phpfpm import PoolConfig
from wispanel.host.templating import render
from wispanel.host.web import PoolKey, WebChange, WebHost
from wispanel.users.models import AccountStatus, User

log = structlog.get_logger(__name__)
T = TypeVar("T")


def web_of(panel: PanelContext) -> WebHost:
    if panel.web is None:
        raise ServiceUnavailable("The web server component is not configured in this panel")
    return panel.web


def translate(error: HostError) -> PanelError:
    """Map a host failure to the API error the caller gets."""
    if isinstance(error, CommandNotFound | DaemonError):
        return ServiceUnavailable(str(error))
    if isinstance(error, DirectiveError):
        return ValidationFailed(str(error), details={"custom_directives": [str(error)]})
    if isinstance(error, InvalidNameError | UnsafePathError):
        return ValidationFailed(str(error))
    return ApplyFailed(str(error))


@contextmanager
def host_errors() -> Iterator[None]:
    try:
        yield
    except HostError as error:
        raise translate(error) from error


async def on_host(function: Callable[..., T], *args: Any) -> T:
    """Run a blocking host call in a worker thread, translating its errors."""
    with host_errors():
        return await anyio.to_thread.run_sync(function, *args)


def home_of(panel: PanelContext, username: str) -> Path:
    return account_host(panel.settings, panel.runner).home(username)


def certificate_dir(panel: PanelContext, domain: str) -> Path:
    if panel.settings.server.profile is Profile.SYSTEM:
        return Path("/etc/wispanel/ssl") / domain
    return panel.settings.data_dir / "ssl" / domain


def certificate_files(panel: PanelContext, domain: Domain) -> TlsFiles | None:
    """Return the domain's certificate files when HTTPS is on and both files exist."""
    if not domain.ssl_enabled:
        return None
    directory = certificate_dir(panel, domain.name)
    files = TlsFiles(directory / "fullchain.pem", directory / "privkey.pem")
    if files.certificate.is_file() and files.key.is_file():
        return files
    # NOTE: until a certificate is issued into this directory, HTTPS stays off for the domain.
    return None


def site_config(panel: PanelContext, domain: Domain, owner: User) -> SiteConfig:
    web = web_of(panel)
    home = home_of(panel, owner.username)
    socket = None
    if domain.php_version is not None:
        socket = web.php.layout.socket(owner.username, domain.php_version)
    return SiteConfig(
        domain=domain.name,
        home=home,
        document_root=home / domain.document_root,
        access_log=home / "logs" / f"{domain.name}.access.log",
        error_log=home / "logs" / f"{domain.name}.error.log",
        php_socket=socket,
        aliases=tuple(alias.name for alias in domain.aliases),
        suspended=domain.suspended or owner.status == AccountStatus.SUSPENDED,
        redirect_url=domain.redirect_url,
        redirect_code=domain.redirect_code,
        custom_directives=domain.custom_directives,
        tls=certificate_files(panel, domain),
        force_https=domain.force_https,
        hsts=domain.hsts,
    )


async def pools_for(
    db: AsyncSession, panel: PanelContext, owner: User
) -> dict[PoolKey, PoolConfig | None]:
    """The owner's pools as the database wants them: one per PHP version its domains use."""
    web = web_of(panel)
    used = set(
        (
            await db.scalars(
                select(Domain.php_version).where(
                    Domain.owner_id == owner.id, Domain.php_version.is_not(None)
                )
            )
        ).all()
    )
    home = home_of(panel, owner.username)
    installed = {item.version for item in await on_host(web.php.versions)}
    pools: dict[PoolKey, PoolConfig | None] = {}
    for version in sorted(installed | {v for v in used if v is not None}):
        key = (owner.username, version)
        pools[key] = web.php.pool_config(owner.username, version, home) if version in used else None
    return pools


async def commit_with_host(
    db: AsyncSession,
    panel: PanelContext,
    sites: Mapping[str, SiteConfig | None],
    pools: Mapping[PoolKey, PoolConfig | None] | None = None,
) -> None:
    """Stage the host change, commit the transaction, then make the change live."""
    web = web_of(panel)
    change: WebChange = await on_host(web.stage, sites, pools or {})
    try:
        await db.commit()
    except BaseException:
        await anyio.to_thread.run_sync(change.rollback)
        raise
    try:
        await anyio.to_thread.run_sync(change.commit)
    except HostError as error:
        log.error("domains.reload_failed", error=str(error))
        raise ServiceUnavailable(
            f"The change is saved, but the web server did not take it: {error}"
        ) from error


async def apply_now(
    panel: PanelContext,
    sites: Mapping[str, SiteConfig | None],
    pools: Mapping[PoolKey, PoolConfig | None] | None = None,
) -> None:
    """Stage and make a change live at once, for callers that commit the database later."""
    change: WebChange = await on_host(web_of(panel).stage, sites, pools or {})
    await on_host(change.commit)


# Files under the account's home


def _owner_ids(panel: PanelContext, username: str) -> tuple[int, int] | None:
    if panel.settings.server.profile is not Profile.SYSTEM:
        return None
    entry = pwd.getpwnam(username)
    return entry.pw_uid, entry.pw_gid


def create_document_root(
    panel: PanelContext, username: str, domain: str, document_root: str
) -> list[Path]:
    """Create the document root with a default index page; return the directories created.

    In the local profile a missing home is created too; the system profile needs the
    account's home to exist already.
    """
    home = home_of(panel, username)
    system = panel.settings.server.profile is Profile.SYSTEM
    if system and not home.is_dir():
        raise HostError(f"the home {home} of {username} is missing; recreate the account")
    target = home / document_root
    created: list[Path] = []
    missing = [target, *(parent for parent in target.parents if parent != home)]
    for directory in reversed(missing):
        if home not in directory.parents and directory != home:
            continue
        if not directory.exists():
            created.append(directory)
    for sub in ("logs", "tmp"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    target.mkdir(parents=True, exist_ok=True)
    owner = _owner_ids(panel, username)
    index = target / "index.html"
    if not any(target.iterdir()):
        index.write_text(render("site/index.html.j2", domain=domain), encoding="utf-8")
        if owner is not None:
            os.chown(index, *owner)
    if owner is not None:
        for directory in created:
            os.chown(directory, *owner)
    return created


def remove_directories(paths: Sequence[Path]) -> None:
    """Remove directories this change created, deepest first; used to undo a failure."""
    for path in sorted(paths, key=lambda item: len(item.parts), reverse=True):
        shutil.rmtree(path, ignore_errors=True)


def remove_domain_files(panel: PanelContext, username: str, domain: str) -> None:
    """Delete `<home>/domains/<domain>` unless the settings keep files of deleted domains."""
    if panel.settings.web.keep_files_on_delete:
        return
    home = home_of(panel, username)
    directory = home / "domains" / domain
    if directory.is_dir() and not directory.is_symlink():
        shutil.rmtree(directory)
        log.info("domains.files_removed", domain=domain, username=username)
