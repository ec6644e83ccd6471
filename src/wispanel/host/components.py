"""The external programs the panel drives, and how to check that each is installed.

``wispanel doctor`` inspects every entry of ``COMPONENTS``. The version patterns for
nginx, PHP-FPM, PowerDNS, MariaDB and Redis were checked against Debian 12 packages. The
others follow each program's usual version output.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass

from wispanel.host.errors import HostError
from wispanel.host.runner import SYSTEM_PATH, CommandRunner

VERSION_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Component:
    """An external program the panel depends on.

    When ``version_argv[0]`` is one of ``binaries``, the binary found replaces it, and that
    may be another candidate or a ``binary_globs`` match. Any other ``version_argv[0]``
    names a helper program, resolved on its own.
    """

    name: str
    binaries: tuple[str, ...]  # candidate names, first found wins
    version_argv: tuple[str, ...]
    version_regex: str  # group 1, or the whole match, is the version
    debian_packages: tuple[str, ...]
    purpose: str
    binary_globs: tuple[str, ...] = ()  # searched in SYSTEM_PATH, newest version first

    @property
    def install_command(self) -> str:
        """The Debian command that installs this component."""
        return "apt-get install -y " + " ".join(self.debian_packages)


@dataclass(frozen=True)
class ComponentReport:
    """Result of inspecting one component."""

    name: str
    installed: bool
    binary: str | None
    version: str | None
    install_command: str
    purpose: str


COMPONENTS: tuple[Component, ...] = (
    Component(
        name="nginx",
        binaries=("nginx",),
        version_argv=("nginx", "-v"),  # prints on stderr
        version_regex=r"nginx/(\S+)",
        debian_packages=("nginx",),
        purpose="web server for the hosted sites",
    ),
    Component(
        name="php-fpm",
        binaries=("php-fpm",),
        version_argv=("php-fpm", "-v"),
        version_regex=r"PHP (\d+\.\d+\.\d+)",
        debian_packages=("php-fpm",),
        purpose="runs PHP for the sites, one pool per account",
        binary_globs=("php-fpm[0-9]*", "php[0-9]*-fpm"),
    ),
    Component(
        name="powerdns",
        binaries=("pdns_server",),
        # pdns_server 4.7 prints its version in the log lines and exits with status 99.
        version_argv=("pdns_server", "--version"),
        version_regex=r"PowerDNS Authoritative Server (\S+)",
        debian_packages=("pdns-server", "pdns-backend-sqlite3"),
        purpose="authoritative DNS for the hosted zones",
    ),
    Component(
        name="mariadb",
        binaries=("mariadbd", "mysqld"),
        version_argv=("mariadbd", "--version"),
        version_regex=r"Ver (\d+(?:\.\d+)+)",
        debian_packages=("mariadb-server",),
        purpose="customer databases",
    ),
    Component(
        name="postfix",
        binaries=("postfix",),
        version_argv=("postconf", "-d", "mail_version"),
        version_regex=r"mail_version = (\S+)",
        debian_packages=("postfix",),
        purpose="mail transfer: receives and sends the hosted domains' mail",
    ),
    Component(
        name="dovecot",
        binaries=("dovecot",),
        version_argv=("dovecot", "--version"),
        version_regex=r"^(\d+(?:\.\d+)+)",
        debian_packages=("dovecot-imapd", "dovecot-lmtpd"),
        purpose="IMAP mailboxes and local delivery",
    ),
    Component(
        name="pure-ftpd",
        binaries=("pure-ftpd",),
        # NOTE: the "pure-ftpd v<version>" header of the help text is assumed, not checked
        # against a real pure-ftpd.
        version_argv=("pure-ftpd", "--help"),
        version_regex=r"pure-ftpd v(\d+(?:\.\d+)+)",
        debian_packages=("pure-ftpd",),
        purpose="FTP access to the accounts' files",
    ),
    Component(
        name="pebble",
        binaries=("pebble",),
        # Pebble 2.4 prints "Pebble version: <version>"; builds without ldflags print "dev".
        version_argv=("pebble", "-version"),
        version_regex=r"Pebble version: (\S+)",
        debian_packages=("pebble",),
        purpose="ACME test server that issues certificates in tests",
    ),
    Component(
        name="nftables",
        binaries=("nft",),
        version_argv=("nft", "--version"),
        version_regex=r"v(\d+(?:\.\d+)+)",
        debian_packages=("nftables",),
        purpose="packet filter for the firewall rules",
    ),
    Component(
        name="redis",
        binaries=("redis-server",),
        version_argv=("redis-server", "--version"),
        version_regex=r"v=(\S+)",
        debian_packages=("redis-server",),
        purpose="shared job queue and rate limits when several processes run",
    ),
)


def _version_key(path: str) -> tuple[tuple[int, ...], str]:
    numbers = tuple(int(number) for number in re.findall(r"\d+", os.path.basename(path)))
    return numbers, path


def find_binary(component: Component, runner: CommandRunner) -> str | None:
    """Return the path of the component's binary, or None if none is installed."""
    for name in component.binaries:
        path = runner.which(name)
        if path is not None:
            return path
    matches: set[str] = set()
    for directory in SYSTEM_PATH.split(":"):
        for pattern in component.binary_globs:
            matches.update(glob.glob(os.path.join(directory, pattern)))
    executables = [path for path in matches if os.path.isfile(path) and os.access(path, os.X_OK)]
    return max(executables, key=_version_key, default=None)


def read_version(component: Component, binary: str, runner: CommandRunner) -> str | None:
    """Run the version command and return the version, or None if that fails."""
    argv = list(component.version_argv)
    if argv[0] in component.binaries:
        argv[0] = binary
    try:
        # Exit statuses are ignored because some programs exit non-zero after printing it.
        result = runner.run(argv, timeout=VERSION_TIMEOUT_SECONDS, check=False)
    except (HostError, OSError):
        return None
    output = (result.stdout + b"\n" + result.stderr).decode("utf-8", errors="replace")
    match = re.search(component.version_regex, output, re.MULTILINE)
    if match is None:
        return None
    return match.group(1) if match.groups() else match.group(0)


def inspect(component: Component, runner: CommandRunner) -> ComponentReport:
    """Report whether the component is installed and which version it is.

    A missing, failing or slow version command gives version None, not an exception.
    """
    binary = find_binary(component, runner)
    version = read_version(component, binary, runner) if binary is not None else None
    return ComponentReport(
        name=component.name,
        installed=binary is not None,
        binary=binary,
        version=version,
        install_command=component.install_command,
        purpose=component.purpose,
    )
