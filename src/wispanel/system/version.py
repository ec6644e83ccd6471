"""The panel's version and build, read once per panel: git describes a source checkout."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

import structlog

from wispanel import __version__
from wispanel.host.errors import HostError
from wispanel.host.runner import CommandRunner

log = structlog.get_logger(__name__)
# src/wispanel/system/version.py sits three levels below the root of a source checkout.
SOURCE_ROOT = Path(__file__).resolve().parents[3]
UNKNOWN = "unknown"
GIT_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class BuildInfo:
    version: str
    git_commit: str  # "unknown" unless the panel runs from a git checkout
    build_date: datetime | None  # the commit's date; None when unknown
    python_version: str


@cache
def build_info(runner: CommandRunner) -> BuildInfo:
    """Return the build of the running panel; git runs only on the first call per runner."""
    commit, date = _git_head(runner)
    return BuildInfo(
        version=__version__,
        git_commit=commit,
        build_date=date,
        python_version=platform.python_version(),
    )


def _git_head(runner: CommandRunner) -> tuple[str, datetime | None]:
    """Return the commit and commit date of the checkout, or ("unknown", None)."""
    if not (SOURCE_ROOT / ".git").exists() or runner.which("git") is None:
        return UNKNOWN, None
    argv = ["git", "-C", str(SOURCE_ROOT), "log", "-1", "--format=%H %cI"]
    try:
        result = runner.run(argv, timeout=GIT_TIMEOUT_SECONDS, check=False)
    except HostError as error:
        log.warning("system.git_commit_unreadable", error=str(error))
        return UNKNOWN, None
    output = result.stdout.decode("utf-8", errors="replace").split()
    if result.returncode != 0 or len(output) != 2:
        log.warning("system.git_commit_unreadable", exit_status=result.returncode)
        return UNKNOWN, None
    commit, committed = output
    try:
        return commit, datetime.fromisoformat(committed)
    except ValueError:
        return commit, None
