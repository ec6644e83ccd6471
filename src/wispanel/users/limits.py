"""Limits of accounts, enforced in one place for every countable resource.

An account's limit is its own override, else its package's value; `-1` means unlimited and
admins are never limited. A reseller's limits bound two things: the resources in use by the
reseller and all its accounts together, and (unless overselling is on) the sum of the limits
it hands out to its accounts.

Areas that own a countable resource register a counter once, at import:

    register_usage_counter("max_domains", count_domains)

and call `enforce_limit` before they create one:

    await enforce_limit(db, owner, "max_domains")

A limit is over when `in use + adding > limit`; the error is 403 QUOTA_EXCEEDED naming it.

Checks and the insert that follows them must not interleave with another request for the
same owner, or two requests could each see the last free slot. `enforce_limit` and
`check_allocation` therefore first lock the rows of the owner and its reseller until the
transaction ends, and count only then.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.core.errors import Forbidden, QuotaExceeded
from wispanel.users.models import UNLIMITED, Package, Role, User

log = structlog.get_logger(__name__)

LIMIT_NAMES = (
    "max_domains",
    "max_subdomains",
    "max_databases",
    "max_email_accounts",
    "max_ftp_accounts",
    "max_cronjobs",
    "disk_quota_mb",
    "bandwidth_quota_mb",
)
# Only resellers have `max_users`: the number of accounts they may create.
RESELLER_LIMIT_NAMES = ("max_users", *LIMIT_NAMES)
FEATURE_NAMES = ("php", "ssl", "cron", "dns_control", "ssh")
MEBIBYTE = 1024 * 1024

UsageCounter = Callable[[AsyncSession, Sequence[int]], Awaitable[int]]
"""Count a resource owned by any of the given account ids."""

_counters: dict[str, UsageCounter] = {}


def register_usage_counter(limit: str, counter: UsageCounter) -> None:
    """Make `limit` countable; a later registration for the same limit replaces the earlier."""
    if limit not in RESELLER_LIMIT_NAMES:
        raise ValueError(f"unknown limit {limit!r}; known: {', '.join(RESELLER_LIMIT_NAMES)}")
    _counters[limit] = counter


async def count_usage(db: AsyncSession, owner_ids: Sequence[int], limit: str) -> int | None:
    """Return how much of `limit` the accounts use, or None when nothing counts it."""
    counter = _counters.get(limit)
    if counter is None:
        return None
    return await counter(db, owner_ids)


def package_limits(package: Package | None) -> dict[str, int]:
    if package is None:
        return dict.fromkeys(LIMIT_NAMES, UNLIMITED)
    return {name: int(getattr(package, name)) for name in LIMIT_NAMES}


def package_features(package: Package | None) -> dict[str, bool]:
    if package is None:
        return dict.fromkeys(FEATURE_NAMES, True)
    return {name: bool(getattr(package, name)) for name in FEATURE_NAMES}


def effective_limits(user: User, package: Package | None) -> dict[str, int]:
    """The account's limits: overrides win over the package; admins are unlimited."""
    names = RESELLER_LIMIT_NAMES if user.role == Role.RESELLER else LIMIT_NAMES
    if user.role == Role.ADMIN:
        return dict.fromkeys(names, UNLIMITED)
    values = {"max_users": UNLIMITED, **package_limits(package)}
    values.update(user.limit_overrides or {})
    return {name: values[name] for name in names}


def effective_features(user: User, package: Package | None) -> dict[str, bool]:
    if user.role == Role.ADMIN:
        return dict.fromkeys(FEATURE_NAMES, True)
    values = package_features(package)
    values.update(user.feature_overrides or {})
    return values


async def package_of(db: AsyncSession, user: User) -> Package | None:
    if user.package_id is None:
        return None
    return await db.get(Package, user.package_id)


async def limits_of(db: AsyncSession, user: User) -> dict[str, int]:
    return effective_limits(user, await package_of(db, user))


async def features_of(db: AsyncSession, user: User) -> dict[str, bool]:
    return effective_features(user, await package_of(db, user))


async def reseller_of(db: AsyncSession, user: User) -> User | None:
    """Return the reseller the account belongs to, or None for top-level accounts."""
    if user.parent_id is None:
        return None
    parent = await db.get(User, user.parent_id)
    return parent if parent is not None and parent.role == Role.RESELLER else None


async def accounts_of(db: AsyncSession, reseller: User) -> list[User]:
    """The reseller's accounts, oldest first."""
    rows = await db.scalars(
        select(User).where(User.parent_id == reseller.id).order_by(User.created_at, User.id)
    )
    return list(rows.all())


def _within(used: int, limit: int) -> bool:
    return limit == UNLIMITED or used <= limit


def _quota_error(username: str, over: Mapping[str, str]) -> QuotaExceeded:
    names = ", ".join(over)
    return QuotaExceeded(
        f"Limit {names} of {username} would be exceeded",
        details={name: [text] for name, text in over.items()},
    )


async def lock_for_limits(db: AsyncSession, *users: User) -> None:
    """Hold the rows of these accounts until the transaction ends.

    A no-op UPDATE takes row locks on PostgreSQL and MariaDB and the write lock on SQLite,
    where it also starts the transaction, so counts read after it include every commit of
    a request that held the lock before. Callers lock an account before its reseller, never
    the other way round, so two requests can't deadlock.
    """
    ids = [user.id for user in users if user.role != Role.ADMIN]
    if ids:
        await db.execute(
            update(User)
            .where(User.id.in_(ids))
            .values(updated_at=User.updated_at)
            .execution_options(synchronize_session=False)
        )


async def enforce_limit(
    db: AsyncSession,
    owner: User,
    limit: str,
    current_count: int | None = None,
    *,
    adding: int = 1,
) -> None:
    """Raise 403 QUOTA_EXCEEDED unless `owner` may have `adding` more of `limit`.

    `current_count` is how many the owner has now; when None, the counter registered for
    `limit` counts it. The owner's reseller is checked too, against the total of the reseller
    and all its accounts, which needs a registered counter: without one that step is skipped
    and logged.
    """
    if owner.role == Role.ADMIN:
        return
    await lock_for_limits(db, owner)
    own_limit = (await limits_of(db, owner)).get(limit, UNLIMITED)
    scope = [owner.id]
    if owner.role == Role.RESELLER:
        scope += [account.id for account in await accounts_of(db, owner)]
    used = current_count if current_count is not None else await count_usage(db, scope, limit)
    if used is None:
        raise LookupError(f"no usage counter registered for {limit!r}; pass current_count")
    if not _within(used + adding, own_limit):
        raise _quota_error(owner.username, {limit: f"{used} of {own_limit} in use"})

    reseller = await reseller_of(db, owner)
    if reseller is None:
        return
    reseller_limit = (await limits_of(db, reseller)).get(limit, UNLIMITED)
    if reseller_limit == UNLIMITED:
        return
    # Locked after the account, always in that order, and only when the total is bounded:
    # an unlimited reseller's accounts don't wait for each other.
    await lock_for_limits(db, reseller)
    family = [reseller.id, *(account.id for account in await accounts_of(db, reseller))]
    total = await count_usage(db, family, limit)
    if total is None:
        log.warning("limits.reseller_not_counted", limit=limit, reseller=reseller.username)
        return
    if not _within(total + adding, reseller_limit):
        raise _quota_error(
            reseller.username,
            {limit: f"{total} of {reseller_limit} in use by the reseller and its accounts"},
        )


def _allocation_over(
    reseller_limits: Mapping[str, int], allocated: Iterable[Mapping[str, int]]
) -> dict[str, str]:
    """Compare the sum of handed-out limits with the reseller's own, limit by limit."""
    allocations = list(allocated)
    over: dict[str, str] = {}
    for name in LIMIT_NAMES:
        own = reseller_limits[name]
        if own == UNLIMITED:
            continue
        values = [limits[name] for limits in allocations]
        if UNLIMITED in values:
            over[name] = f"an account would be unlimited, but the reseller has {own}"
            continue
        if sum(values) > own:
            over[name] = f"{sum(values)} handed out, but the reseller has {own}"
    return over


async def check_allocation(
    db: AsyncSession,
    reseller: User,
    account_limits: Mapping[str, int],
    account_features: Mapping[str, bool],
    *,
    replacing: User | None = None,
    adding_account: bool = False,
) -> None:
    """Check that the reseller may give an account these limits and features.

    `replacing` is the account being changed (its current limits leave the sum);
    `adding_account` counts one more account against `max_users`. Features the reseller
    lacks are 403 FORBIDDEN; limits are 403 QUOTA_EXCEEDED unless overselling is on.
    """
    await lock_for_limits(db, reseller)
    reseller_features = await features_of(db, reseller)
    refused = [
        name for name in FEATURE_NAMES if account_features[name] and not reseller_features[name]
    ]
    if refused:
        raise Forbidden(
            f"Reseller {reseller.username} can't grant {', '.join(refused)}; "
            "choose a package without it",
            details={name: ["not granted to the reseller"] for name in refused},
        )
    if adding_account:
        await enforce_limit(db, reseller, "max_users")
    if reseller.allow_overselling:
        return
    others = [
        a for a in await accounts_of(db, reseller) if replacing is None or a.id != replacing.id
    ]
    allocated = [await limits_of(db, account) for account in others] + [dict(account_limits)]
    over = _allocation_over(await limits_of(db, reseller), allocated)
    if over:
        raise _quota_error(reseller.username, over)


async def check_reseller_limits(
    db: AsyncSession, reseller: User, new_limits: Mapping[str, int], *, overselling: bool
) -> None:
    """Refuse reseller limits below what its accounts use or, without overselling, hold."""
    accounts = await accounts_of(db, reseller)
    over: dict[str, str] = {}
    if not _within(len(accounts), new_limits["max_users"]):
        over["max_users"] = f"{len(accounts)} accounts exist, more than {new_limits['max_users']}"
    family = [reseller.id, *(account.id for account in accounts)]
    for name in LIMIT_NAMES:
        used = await count_usage(db, family, name)
        if used is not None and not _within(used, new_limits[name]):
            over[name] = f"{used} in use, more than {new_limits[name]}"
    if not overselling:
        allocated = [await limits_of(db, account) for account in accounts]
        for name, text in _allocation_over(new_limits, allocated).items():
            over.setdefault(name, text)
    if over:
        raise _quota_error(reseller.username, over)


async def check_usage_fits(db: AsyncSession, user: User, new_limits: Mapping[str, int]) -> None:
    """Refuse new limits that the account already uses more of, listing every limit over."""
    scope = [user.id]
    if user.role == Role.RESELLER:
        scope += [account.id for account in await accounts_of(db, user)]
    over: dict[str, str] = {}
    for name, limit in new_limits.items():
        if name == "max_users":
            continue
        used = await count_usage(db, scope, name)
        if used is not None and not _within(used, limit):
            over[name] = f"{used} in use, more than the new limit {limit}"
    if over:
        raise _quota_error(user.username, over)


async def _count_accounts(db: AsyncSession, owner_ids: Sequence[int]) -> int:
    count = await db.scalar(
        select(func.count()).select_from(User).where(User.parent_id.in_(owner_ids))
    )
    return int(count or 0)


async def _count_disk_mb(db: AsyncSession, owner_ids: Sequence[int]) -> int:
    used = await db.scalar(
        select(func.coalesce(func.sum(User.disk_used_bytes), 0)).where(User.id.in_(owner_ids))
    )
    return int(used or 0) // MEBIBYTE


register_usage_counter("max_users", _count_accounts)
register_usage_counter("disk_quota_mb", _count_disk_mb)
