"""Hooks through which each area removes, stops or restarts what an account owns.

An area registers its own code once, at import:

    @on_account_delete
    async def remove_domains(db: AsyncSession, user: User) -> None: ...

Hooks run inside the caller's transaction, in registration order, before the users area
changes the account itself; a hook that raises rolls the whole change back. A hook that
declares a keyword parameter `panel` also receives the running `PanelContext`, for its host
components. The account's Linux user and home are removed after every hook has run.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.users.models import User

if TYPE_CHECKING:
    from wispanel.core.context import PanelContext

log = structlog.get_logger(__name__)

AccountHook = Callable[..., Awaitable[None]]

_hooks: dict[str, list[AccountHook]] = {"delete": [], "suspend": [], "unsuspend": []}


def _register(stage: str, hook: AccountHook) -> AccountHook:
    if hook not in _hooks[stage]:
        _hooks[stage].append(hook)
    return hook


def on_account_delete(hook: AccountHook) -> AccountHook:
    """Register `hook(db, user)` to remove what the account owns before it is deleted."""
    return _register("delete", hook)


def on_account_suspend(hook: AccountHook) -> AccountHook:
    """Register `hook(db, user)` to stop what the account runs (sites, mail, FTP, cron)."""
    return _register("suspend", hook)


def on_account_unsuspend(hook: AccountHook) -> AccountHook:
    """Register `hook(db, user)` to restart exactly what the suspension stopped."""
    return _register("unsuspend", hook)


def _wants_panel(hook: AccountHook) -> bool:
    return "panel" in inspect.signature(hook).parameters


async def run_hooks(stage: str, db: AsyncSession, panel: PanelContext, user: User) -> None:
    """Run every hook of a stage (`delete`, `suspend` or `unsuspend`) for one account."""
    for hook in _hooks[stage]:
        extra: dict[str, Any] = {"panel": panel} if _wants_panel(hook) else {}
        log.debug("account.hook", stage=stage, hook=hook.__qualname__, username=user.username)
        await hook(db, user, **extra)


def registered(stage: str) -> tuple[AccountHook, ...]:
    return tuple(_hooks[stage])


def unregister(stage: str, hook: AccountHook) -> None:
    """Drop a hook; for tests that register their own."""
    if hook in _hooks[stage]:
        _hooks[stage].remove(hook)
