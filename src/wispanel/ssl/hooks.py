"""Certificate files when the owning account is deleted."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.core.context import PanelContext
from wispanel.domains import hosting
from wispanel.domains.models import Domain
from wispanel.ssl import cleanup
from wispanel.users.lifecycle import on_account_delete
from wispanel.users.models import User


@on_account_delete
async def remove_certificate_files(db: AsyncSession, user: User, *, panel: PanelContext) -> None:
    """Remove the certificate directories of the account's domains.

    Hooks run in registration order, and the domains area's hook may already have deleted
    the account's domain rows in this transaction. So the directories of the account's
    remaining domains go, and so does every directory whose name no domain row has as seen
    from inside this transaction.
    """
    owned = set((await db.scalars(select(Domain.name).where(Domain.owner_id == user.id))).all())
    known = set((await db.scalars(select(Domain.name))).all())
    # NOTE: the users area commits after its hooks. If that commit fails, the account's
    # domains stay but their certificate files are gone, and their sites serve HTTP only.
    await hosting.on_host(cleanup.remove_unknown, panel, known - owned)
