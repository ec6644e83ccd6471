"""Routes of the host, its resources, readiness, the managed services and the panel's build."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import AwareDatetime
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from wispanel.auth.deps import Audit, CurrentPrincipal
from wispanel.auth.principal import Principal
from wispanel.auth.scopes import area_scope, scope_allows
from wispanel.core.context import PanelContext, get_panel
from wispanel.core.database import get_session
from wispanel.core.errors import Forbidden, Unauthorized
from wispanel.core.pagination import PageRequest, page_request
from wispanel.system import control, service
from wispanel.system.schemas import (
    HealthOut,
    HistoryOut,
    ProcessOut,
    ResourcesOut,
    ServiceOut,
    SystemInfoOut,
    VersionOut,
)

TAG = "14 System & Services"
system_router = APIRouter(prefix="/api/v1/system", tags=[TAG], dependencies=[area_scope("system")])
health_router = APIRouter(prefix="/api/v1/system", tags=[TAG])
services_router = APIRouter(
    prefix="/api/v1/services", tags=[TAG], dependencies=[area_scope("system")]
)
version_router = APIRouter(
    prefix="/api/v1/version", tags=[TAG], dependencies=[area_scope("system")]
)

Session = Annotated[AsyncSession, Depends(get_session)]
Panel = Annotated[PanelContext, Depends(get_panel)]
ServiceName = Annotated[
    str, Path(max_length=64, description="nginx, php-fpm<version> (php-fpm8.2) or powerdns")
]
SERVICE_ERRORS: dict[int | str, dict[str, Any]] = {
    409: {"description": "The service has nothing to run, or the panel can't stop it (CONFLICT)"},
    502: {"description": "The service's config check failed; it was left as it was"},
    503: {"description": "The service is not installed, or did not start (SERVICE_UNAVAILABLE)"},
}
ACTION_DESCRIPTION = (
    "Admins only. Returns the service's state after the action. A stopped nginx or PHP-FPM "
    "master starts again by itself with the next site change that needs it, and so does the "
    "local profile's PowerDNS with the next DNS change."
)
HEALTH_DESCRIPTION = """\
Readiness for load balancers: 200 when the panel database responds, the job queue is
reachable, a job worker took a resource sample within two sampling intervals and a minute,
and every service the panel needs runs (nginx once there are sites, each PHP-FPM master with
account pools, PowerDNS once there are zones). Otherwise 503 SERVICE_UNAVAILABLE.

No authentication is needed, and the anonymous response contains only the status. An admin's
token or API key (scope `system`, `read` or `all`) also gets every check, in the body when
ready and in `details.checks` when not. Credentials that are sent must be valid (401
otherwise). Anonymous calls count against the per-address rate limit
(`rate_limit.anonymous_per_minute`, 60 a minute by default), so probe less than once a
second from one address.
"""


async def optional_principal(request: Request) -> Principal | None:
    """Return the caller when credentials were sent; invalid credentials still fail with 401."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        error: Unauthorized | None = getattr(request.state, "auth_error", None)
        if error is not None:
            raise error
        return None
    if principal.kind == "api_key" and not scope_allows(principal.scopes, "system", request.method):
        raise Forbidden("API key is not scoped for 'system' on this request")
    return principal


@system_router.get(
    "/info",
    operation_id="getSystemInfo",
    summary="Host name, OS, kernel, uptime, panel version",
    response_model=SystemInfoOut,
)
async def system_info(principal: CurrentPrincipal, panel: Panel) -> SystemInfoOut:
    return await service.system_info(panel, principal)


@system_router.get(
    "/resources",
    operation_id="getSystemResources",
    summary="CPU, memory, disk, load, network now (widget)",
    description="CPU shares are measured over half a second, so the response takes that long.",
    response_model=ResourcesOut,
)
async def system_resources(principal: CurrentPrincipal, panel: Panel) -> ResourcesOut:
    return await service.current_resources(panel, principal)


@system_router.get(
    "/resources/history",
    operation_id="getResourceHistory",
    summary="Resource time series for graphs",
    description=(
        "Admins only. The panel samples its host every `system.sample_interval_minutes` and "
        "keeps samples for `system.sample_retention_days`. Samples between `since` and "
        "`until` are averaged into buckets of equal width, at most `max_points` of them; a "
        "bucket without samples is left out."
    ),
    response_model=HistoryOut,
)
async def resource_history(
    *,
    principal: CurrentPrincipal,
    db: Session,
    panel: Panel,
    since: Annotated[
        AwareDatetime | None,
        Query(description="Start, RFC 3339 with an offset; default 24 hours before until"),
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="End, RFC 3339 with an offset; default now")
    ] = None,
    max_points: Annotated[
        int,
        Query(
            ge=1,
            le=10_000,
            description="Most points returned (at most the setting "
            "`system.history_max_points`, 1000 by default)",
        ),
    ] = 300,
    host: Annotated[
        str | None,
        Query(
            max_length=255,
            pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]*$",
            description="Host name of the node whose samples to return; default this one",
        ),
    ] = None,
) -> HistoryOut:
    return await service.resource_history(
        db, panel, principal, since=since, until=until, max_points=max_points, host=host
    )


@system_router.get(
    "/processes",
    operation_id="listProcesses",
    summary="Top processes",
    description="Admins only. CPU shares are measured over half a second.",
    response_model=list[ProcessOut],
)
async def processes(
    principal: CurrentPrincipal,
    sort: Annotated[
        Literal["cpu", "memory"], Query(description="Order by CPU share or resident memory")
    ] = "cpu",
    limit: Annotated[int, Query(ge=1, le=100, description="Processes to return")] = 20,
) -> list[ProcessOut]:
    return await service.top_processes(principal, sort=sort, limit=limit)


@health_router.get(
    "/health",
    operation_id="getSystemHealth",
    summary="Readiness: database, job worker, managed services",
    description=HEALTH_DESCRIPTION,
    response_model=HealthOut,
    response_model_exclude_none=True,
    responses={503: {"description": "Not ready (SERVICE_UNAVAILABLE)"}},
    # Credentials are optional: an empty requirement next to bearerAuth.
    openapi_extra={"security": [{}, {"bearerAuth": []}]},
)
async def system_health(
    principal: Annotated[Principal | None, Depends(optional_principal)], db: Session, panel: Panel
) -> HealthOut:
    return await service.readiness(db, panel, principal)


@services_router.get(
    "",
    operation_id="listServices",
    summary="Managed services and their state",
    description="Pids, paths and problems are shown to admins only.",
    response_model=list[ServiceOut] | dict[str, Any],
)
async def list_services(
    *,
    principal: CurrentPrincipal,
    db: Session,
    panel: Panel,
    page: Annotated[PageRequest, Depends(page_request)],
) -> Any:
    return await control.list_services(db, panel, principal, page)


@services_router.get(
    "/{name}", operation_id="getService", summary="One service", response_model=ServiceOut
)
async def get_service(
    *, principal: CurrentPrincipal, db: Session, panel: Panel, name: ServiceName
) -> ServiceOut:
    return await control.get_service(db, panel, principal, name)


@services_router.post(
    "/{name}/start",
    operation_id="startService",
    summary="Start a managed service",
    description=ACTION_DESCRIPTION,
    response_model=ServiceOut,
    responses=SERVICE_ERRORS,
)
async def start_service(
    *, principal: CurrentPrincipal, context: Audit, db: Session, panel: Panel, name: ServiceName
) -> ServiceOut:
    return await control.control_service(db, panel, principal, context, name=name, action="start")


@services_router.post(
    "/{name}/stop",
    operation_id="stopService",
    summary="Stop a managed service",
    description=ACTION_DESCRIPTION,
    response_model=ServiceOut,
    responses=SERVICE_ERRORS,
)
async def stop_service(
    *, principal: CurrentPrincipal, context: Audit, db: Session, panel: Panel, name: ServiceName
) -> ServiceOut:
    return await control.control_service(db, panel, principal, context, name=name, action="stop")


@services_router.post(
    "/{name}/restart",
    operation_id="restartService",
    summary="Restart a managed service",
    description=ACTION_DESCRIPTION,
    response_model=ServiceOut,
    responses=SERVICE_ERRORS,
)
async def restart_service(
    *, principal: CurrentPrincipal, context: Audit, db: Session, panel: Panel, name: ServiceName
) -> ServiceOut:
    return await control.control_service(db, panel, principal, context, name=name, action="restart")


@version_router.get(
    "/info",
    operation_id="getVersionInfo",
    summary="Panel version, build and commit",
    response_model=VersionOut,
)
async def version_info(principal: CurrentPrincipal, panel: Panel) -> VersionOut:
    return await service.version_info(panel, principal)
