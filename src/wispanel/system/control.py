"""Managed services through the API: their state for everyone, start, stop and restart for admins.

An action runs on the host first, because a daemon is not database state. Then its result
is recorded: a `service.started`, `service.stopped` or `service.restarted` event with its
audit row, or, when the action failed, a `service.<action>_failed` audit row before the
error goes back to the caller.
"""

from __future__ import annotations

from typing import Any, Literal

import anyio
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.principal import Principal
from wispanel.core.context import PanelContext
from wispanel.core.errors import ApplyFailed, Forbidden, PanelError, ServiceUnavailable
from wispanel.core.events import AuditContext
from wispanel.core.pagination import PageRequest, page_envelope
from wispanel.dns.models import DnsZone
from wispanel.host.errors import HostError
from wispanel.system.schemas import ServiceOut
from wispanel.system.service_state import ManagedService, ServiceState
from wispanel.system.services import find_service, managed_services
from wispanel.users.models import Role

log = structlog.get_logger(__name__)
Action = Literal["start", "stop", "restart"]
PAST_TENSE: dict[str, str] = {"start": "started", "stop": "stopped", "restart": "restarted"}


def require_admin(principal: Principal, action: str) -> None:
    """Raise 403 unless the caller is an admin; `action` completes "Only admins can …"."""
    if principal.role != Role.ADMIN:
        raise Forbidden(f"Only admins can {action}")


async def zones_exist(db: AsyncSession) -> bool:
    return (await db.scalars(select(DnsZone.id).limit(1))).first() is not None


def services_for(panel: PanelContext, *, has_zones: bool) -> list[ManagedService]:
    """Build the managed services of the panel's profile; PowerDNS is needed once zones exist."""
    if panel.web is None or panel.dns is None:
        raise ServiceUnavailable("The web and DNS components are not configured in this panel")
    return managed_services(panel.settings, panel.web, panel.dns, has_zones=has_zones)


async def services_of(db: AsyncSession, panel: PanelContext) -> list[ManagedService]:
    return services_for(panel, has_zones=await zones_exist(db))


def service_out(state: ServiceState, principal: Principal) -> ServiceOut:
    """Shape a state for the caller: pids, paths and problems are for admins only."""
    out = ServiceOut(
        name=state.name,
        kind=state.kind,
        installed=state.installed,
        running=state.running,
        required=state.required,
        version=state.version,
        managed_by=None,
    )
    if principal.role != Role.ADMIN:
        return out
    detail = state.detail if state.problem is None else f"{state.detail}; {state.problem}"
    return out.model_copy(
        update={
            "managed_by": state.managed_by,
            "pid": state.pid,
            "started_at": state.started_at,
            "detail": detail,
            "install_command": state.install_command,
        }
    )


async def list_services(
    db: AsyncSession, panel: PanelContext, principal: Principal, page: PageRequest
) -> list[ServiceOut] | dict[str, Any]:
    services = await services_of(db, panel)
    states = [await anyio.to_thread.run_sync(service.state) for service in services]
    items = [service_out(state, principal) for state in states]
    if not page.requested:
        return items
    number, per_page = page.page or 1, page.per_page or 50
    chosen = items[(number - 1) * per_page : number * per_page]
    return page_envelope(chosen, len(items), number, per_page)


async def get_service(
    db: AsyncSession, panel: PanelContext, principal: Principal, name: str
) -> ServiceOut:
    service = find_service(await services_of(db, panel), name)
    return service_out(await anyio.to_thread.run_sync(service.state), principal)


def _translate(error: HostError) -> PanelError:
    if error.code == "SERVICE_UNAVAILABLE":
        return ServiceUnavailable(str(error))
    return ApplyFailed(str(error))


async def _record_failure(
    db: AsyncSession,
    panel: PanelContext,
    context: AuditContext,
    *,
    name: str,
    action: Action,
    failure: PanelError,
) -> None:
    log.warning("system.service_action_failed", service=name, action=action, error=failure.message)
    panel.events.audit(
        db,
        context,
        f"service.{action}_failed",
        object_type="service",
        object_id=name,
        details={"code": failure.code, "error": failure.message[:1000]},
    )
    await db.commit()


async def control_service(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    *,
    name: str,
    action: Action,
) -> ServiceOut:
    """Start, stop or restart a service, then return its state as it is afterwards."""
    require_admin(principal, f"{action} services")
    service = find_service(await services_of(db, panel), name)
    service.require_installed()
    before = await anyio.to_thread.run_sync(service.state)
    log.info("system.service_action", service=name, action=action, pid=before.pid)
    try:
        actions = {"start": service.start, "stop": service.stop, "restart": service.restart}
        await anyio.to_thread.run_sync(actions[action])
    except HostError as error:
        failure = _translate(error)
        await _record_failure(db, panel, context, name=name, action=action, failure=failure)
        raise failure from error
    except PanelError as error:
        await _record_failure(db, panel, context, name=name, action=action, failure=error)
        raise
    after = await anyio.to_thread.run_sync(service.state)
    panel.events.publish(
        db,
        context,
        f"service.{PAST_TENSE[action]}",
        {
            "service": name,
            "action": action,
            "running": after.running,
            "pid": after.pid,
            "previous_pid": before.pid,
        },
        object_type="service",
        object_id=name,
        owner_id=None,
    )
    await db.commit()
    return service_out(after, principal)
