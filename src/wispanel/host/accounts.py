"""Hosting accounts on the host: the Linux user, its group and its home directory tree.

Two implementations share one interface. `SystemAccounts` (the `system` profile, as root)
runs `useradd` and `userdel` and builds `/home/<user>` owned by the new user. `LocalAccounts`
(the `local` profile) builds the same tree under `<data-dir>/home/<user>`, owned by the
panel's own user, and creates no Linux user.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import stat
from pathlib import Path
from typing import Protocol

import structlog

from wispanel.core.config import Profile, Settings
from wispanel.host.errors import HostError
from wispanel.host.paths import ensure_inside, validate_username
from wispanel.host.runner import CommandRunner

log = structlog.get_logger(__name__)

HOME_MODE = 0o750
# Every home contains these, each with the given mode; `tmp` is private to the account.
HOME_LAYOUT: tuple[tuple[str, int], ...] = (
    ("domains", 0o750),
    ("logs", 0o750),
    ("tmp", 0o700),
    ("backups", 0o750),
    ("mail", 0o750),
)
# In the system profile the home and `domains` belong to the web server's group instead of
# the account's, so nginx's workers can pass through them (but not list them) to the sites.
WEB_PASSAGE_MODE = 0o710
WEB_PASSAGES = frozenset({".", "domains"})
ACCOUNT_COMMENT = "WisPanel hosting account"


class AccountHostError(HostError):
    """The host refused to create, change or remove an account; nothing was left behind."""

    code = "APPLY_FAILED"


class AccountHost(Protocol):
    """The host operations the users service needs for an account."""

    def home(self, username: str) -> Path:
        """Return the account's home directory (it may not exist)."""
        ...

    def system_account_exists(self, username: str) -> bool:
        """Return whether the host already has a Linux user of that name."""
        ...

    def create(self, username: str) -> Path:
        """Create the account and its home tree; return the home. Undone in full on failure."""
        ...

    def remove(self, username: str) -> None:
        """Remove the account and its home tree; a missing account or home is not an error."""
        ...

    def suspend(self, username: str) -> None:
        """Stop logins of the account's Linux user (SSH, FTP through PAM, cron)."""
        ...

    def unsuspend(self, username: str) -> None:
        """Undo `suspend`."""
        ...

    def disk_usage_bytes(self, username: str) -> int:
        """Return the bytes allocated under the account's home, 0 when it has none."""
        ...


def _disk_usage(root: Path) -> int:
    """Sum allocated blocks under `root` without following symlinks or leaving its filesystem."""
    try:
        device = root.lstat().st_dev
    except FileNotFoundError:
        return 0
    total = 0
    pending = [root]
    while pending:
        directory = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, PermissionError, NotADirectoryError):
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            total += info.st_blocks * 512
            if stat.S_ISDIR(info.st_mode) and info.st_dev == device:
                pending.append(Path(entry.path))
    return total


def _remove_tree(root: Path, home: Path) -> None:
    """Delete a home tree; `root` bounds it so a bad name can never reach outside."""
    ensure_inside(root, home)
    if home.is_symlink():
        home.unlink()
        return
    if home.exists():
        # rmtree works on directory descriptors, so symlinks inside are removed, not followed.
        shutil.rmtree(home)


def _build_tree(home: Path, owner: tuple[int, int] | None, web_gid: int | None = None) -> None:
    """Create the home and its layout; with `owner`, chown them, giving passages `web_gid`."""
    directories = [(home, HOME_MODE, ".")]
    directories += [(home / name, mode, name) for name, mode in HOME_LAYOUT]
    for path, mode, _name in directories:
        path.mkdir(mode=mode)
        os.chmod(path, mode)  # mkdir's mode is reduced by the umask
    if owner is None:
        return
    for path, mode, name in directories:
        if web_gid is not None and name in WEB_PASSAGES:
            os.chown(path, owner[0], web_gid, follow_symlinks=False)
            os.chmod(path, WEB_PASSAGE_MODE)
        else:
            os.chown(path, *owner, follow_symlinks=False)
            os.chmod(path, mode)  # chown may clear set-id bits; keep the mode exact


class LocalAccounts:
    """Account homes under the data directory, owned by the panel's own user."""

    def __init__(self, home_root: Path) -> None:
        self.home_root = home_root

    def home(self, username: str) -> Path:
        return self.home_root / validate_username(username)

    def system_account_exists(self, username: str) -> bool:
        # In the local profile every account maps to the panel's own user.
        return False

    def create(self, username: str) -> Path:
        home = self.home(username)
        self.home_root.mkdir(parents=True, exist_ok=True)
        if home.exists() or home.is_symlink():
            raise AccountHostError(f"home directory {home} already exists; remove it first")
        try:
            _build_tree(home, owner=None)
        except OSError as error:
            with contextlib.suppress(OSError):
                _remove_tree(self.home_root, home)
            raise AccountHostError(f"failed to create {home}: {error.strerror}") from error
        log.info("account.home_created", username=username, profile="local")
        return home

    def remove(self, username: str) -> None:
        home = self.home(username)
        try:
            _remove_tree(self.home_root, home)
        except OSError as error:
            raise AccountHostError(f"failed to remove {home}: {error.strerror}") from error
        log.info("account.home_removed", username=username, profile="local")

    def suspend(self, username: str) -> None:
        return None

    def unsuspend(self, username: str) -> None:
        return None

    def disk_usage_bytes(self, username: str) -> int:
        return _disk_usage(self.home(username))


class SystemAccounts:
    """Real Linux users with a nologin shell, a group of their own and a private home.

    The home and its `domains` directory let the web server's group pass (mode 0710), so
    nginx reaches the document roots. Everything else in the home is the account's alone.
    """

    def __init__(
        self, runner: CommandRunner, home_root: Path, shell: str, web_group: str = "www-data"
    ) -> None:
        self.runner = runner
        self.home_root = home_root
        self.shell = shell
        self.web_group = web_group

    def home(self, username: str) -> Path:
        return self.home_root / validate_username(username)

    def system_account_exists(self, username: str) -> bool:
        result = self.runner.run(["getent", "passwd", username], check=False)
        return result.returncode == 0

    def _group_exists(self, name: str) -> bool:
        return self.runner.run(["getent", "group", name], check=False).returncode == 0

    def create(self, username: str) -> Path:
        home = self.home(username)
        if self.system_account_exists(username):
            raise AccountHostError(f"a system account named {username} already exists")
        if home.exists() or home.is_symlink():
            raise AccountHostError(f"home directory {home} already exists; remove it first")
        self.runner.run(
            [
                "useradd",
                "--home-dir",
                str(home),
                "--no-create-home",
                "--shell",
                self.shell,
                "--user-group",
                "--comment",
                ACCOUNT_COMMENT,
                username,
            ]
        )
        try:
            entry = pwd.getpwnam(username)
            web_gid = grp.getgrnam(self.web_group).gr_gid
            _build_tree(home, (entry.pw_uid, entry.pw_gid), web_gid)
        except (OSError, KeyError) as error:
            self._undo_create(username, home)
            raise AccountHostError(f"failed to create the home of {username}: {error}") from error
        log.info("account.created", username=username, profile="system", uid=entry.pw_uid)
        return home

    def _undo_create(self, username: str, home: Path) -> None:
        try:
            self.remove(username)
        except HostError:
            log.exception("account.undo_failed", username=username, home=str(home))

    def remove(self, username: str) -> None:
        home = self.home(username)
        if self.system_account_exists(username):
            # userdel refuses a user that still runs processes, such as a PHP-FPM worker
            # finishing its last request; exit status 1 means there were none.
            self.runner.run(["pkill", "--signal", "KILL", "--uid", username], check=False)
            self.runner.run(["userdel", username])
        # userdel drops the user's own group when nothing else uses it; a group left over
        # from an earlier failed run goes here.
        if self._group_exists(username):
            self.runner.run(["groupdel", username])
        try:
            _remove_tree(self.home_root, home)
        except OSError as error:
            raise AccountHostError(f"failed to remove {home}: {error.strerror}") from error
        log.info("account.removed", username=username, profile="system")

    def suspend(self, username: str) -> None:
        # An expiry date in the past makes PAM's account check refuse every login.
        self.runner.run(["usermod", "--expiredate", "1", validate_username(username)])

    def unsuspend(self, username: str) -> None:
        self.runner.run(["usermod", "--expiredate", "", validate_username(username)])

    def disk_usage_bytes(self, username: str) -> int:
        return _disk_usage(self.home(username))


def account_host(settings: Settings, runner: CommandRunner) -> AccountHost:
    """Return the account component of the configured host profile."""
    if settings.server.profile is Profile.SYSTEM:
        accounts = settings.accounts
        return SystemAccounts(
            runner, accounts.home_root, accounts.nologin_shell, settings.web.server_group
        )
    return LocalAccounts(settings.data_dir / "home")
