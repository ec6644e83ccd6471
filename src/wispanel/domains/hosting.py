"""From domain rows to the web host: build site and pool configs, stage them, commit both.

`commit_with_host` is the one sequence every change follows: stage the host files (written
and checked), commit the database, then reload. A failed check restores the files and the
database transaction rolls back, so nothing is half applied.
"""

from __future__ import annotations

import grp
import hashlib
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
from wispanel.host.home_files import WebOwnership, make_document_root, remove_inside
from wispanel.host.nginx import SiteConfig, TlsFiles
from wispanel.host.nginx_directives import DirectiveError
from wispanel.host.paths import validate_hostname, validate_username
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
        # Files older than the domain belong to an earlier owner of the name, whose
        # clean-up did not run; never serve them.
        if files.key.stat().st_mtime < domain.created_at.timestamp():
            log.warning("domains.stale_certificate_ignored", domain=domain.name)
            return None
        digest = hashlib.sha256(files.certificate.read_bytes()).hexdigest()[:16]
        return TlsFiles(files.certificate, files.key, digest)
    # NOTE: until a certificate is issued into this directory, HTTPS stays off for the domain.
    return None


def site_config(panel: PanelContext, domain: Domain, owner: User) -> SiteConfig:
    web = web_of(panel)
    home = home_of(panel, owner.username)
    access_log, error_log = site_logs(panel, owner.username, domain.name)
    socket = None
    if domain.php_version is not None:
        socket = web.php.layout.socket(owner.username, domain.php_version)
    return SiteConfig(
        domain=domain.name,
        home=home,
        document_root=home / domain.document_root,
        access_log=access_log,
        error_log=error_log,
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
        change.decide(commit=False)
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(change.wait)
        raise
    change.decide(commit=True)
    try:
        await anyio.to_thread.run_sync(change.wait)
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
    change.decide(commit=True)
    await on_host(change.wait)


# Files under the account's home, and the site logs


def _web_ownership(panel: PanelContext, username: str) -> WebOwnership | None:
    """Return the owners of site directories in the system profile, or None in the local one."""
    if panel.settings.server.profile is not Profile.SYSTEM:
        return None
    try:
        uid = pwd.getpwnam(username).pw_uid
        web_gid = grp.getgrnam(panel.settings.web.server_group).gr_gid
    except KeyError as error:
        raise HostError(
            f"the system user or group {error.args[0]} is missing; recreate the account, or"
            " set web.server_group to the group nginx runs as"
        ) from error
    return WebOwnership(uid, web_gid)


def site_logs(panel: PanelContext, username: str, domain: str) -> tuple[Path, Path]:
    """Return the access and error log of a domain.

    The local profile keeps them in the home. In the system profile nginx's master opens
    them as root, so they live under a directory of root's instead of one the account could
    replace with a link.
    """
    if panel.settings.server.profile is Profile.SYSTEM:
        directory = panel.settings.web.system_log_dir / validate_username(username)
    else:
        directory = home_of(panel, username) / "logs"
    name = validate_hostname(domain, "domain")
    return directory / f"{name}.access.log", directory / f"{name}.error.log"


def _prepare_log_directory(panel: PanelContext, username: str, domain: str) -> None:
    directory = site_logs(panel, username, domain)[0].parent
    if panel.settings.server.profile is not Profile.SYSTEM:
        directory.mkdir(parents=True, exist_ok=True)
        return
    directory.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    directory.mkdir(mode=0o750, exist_ok=True)
    # Root writes the logs; the account's group may read them. Root owns every directory
    # on this path, so the account can't put a link in it.
    os.chown(directory, 0, pwd.getpwnam(username).pw_gid)
    os.chmod(directory, 0o750)  # noqa: S103 - only the owner writes; others get nothing


def create_document_root(
    panel: PanelContext, username: str, domain: str, document_root: str
) -> list[str]:
    """Create the document root with a default index page and the domain's log directory.

    Returns the directories created, relative to the home. In the local profile a missing
    home is created too; the system profile needs the account's home to exist already.
    """
    home = home_of(panel, username)
    ownership = _web_ownership(panel, username)
    if ownership is None:
        for sub in ("logs", "tmp"):
            (home / sub).mkdir(parents=True, exist_ok=True)
    elif not home.is_dir():
        raise HostError(f"the home {home} of {username} is missing; recreate the account")
    _prepare_log_directory(panel, username, domain)
    index = render("site/index.html.j2", domain=domain)
    return make_document_root(home, document_root, ownership, "index.html", index)


def remove_directories(panel: PanelContext, username: str, created: Sequence[str]) -> None:
    """Remove directories a failed change created, deepest first."""
    home = home_of(panel, username)
    for relative in sorted(created, key=lambda item: item.count("/"), reverse=True):
        try:
            remove_inside(home, relative)
        except HostError:
            log.exception("domains.undo_failed", username=username, path=relative)


def remove_domain_files(panel: PanelContext, username: str, domain: str) -> None:
    """Delete `<home>/domains/<domain>` unless the settings keep files of deleted domains."""
    if panel.settings.web.keep_files_on_delete:
        return
    home = home_of(panel, username)
    if remove_inside(home, f"domains/{validate_hostname(domain, 'domain')}"):
        log.info("domains.files_removed", domain=domain, username=username)


def remove_site_logs(panel: PanelContext, username: str) -> None:
    """Delete the system profile's log directory of a deleted account."""
    if panel.settings.server.profile is not Profile.SYSTEM:
        return
    directory = panel.settings.web.system_log_dir / validate_username(username)
    if directory.is_dir() and not directory.is_symlink():
        shutil.rmtree(directory)
