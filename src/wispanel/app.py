"""The application factory: settings in, a FastAPI app with every layer wired, out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import cache
from typing import Any

import anyio
import structlog
from fastapi import FastAPI
from sqlalchemy import select

from wispanel import __version__
from wispanel.auth.api_keys.cache import ApiKeyCache
from wispanel.auth.api_keys.router import router as api_keys_router
from wispanel.auth.middleware import AuthenticationMiddleware
from wispanel.auth.passwords import password_hasher
from wispanel.auth.principal import Authenticator, SessionCache
from wispanel.auth.router import router as auth_router
from wispanel.auth.sso.router import consume_router as sso_consume_router
from wispanel.auth.sso.router import exchange_router as sso_exchange_router
from wispanel.auth.sso.router import mint_router as sso_mint_router
from wispanel.auth.tokens import TokenCodec
from wispanel.core import migrate
from wispanel.core.bootstrap import ensure_first_admin
from wispanel.core.config import Settings
from wispanel.core.context import PanelContext
from wispanel.core.database import create_api_engine, create_sync_engine, session_factory
from wispanel.core.events import EventBus
from wispanel.core.folders import FOLDERS
from wispanel.core.handlers import install_error_handlers
from wispanel.core.idempotency.middleware import IdempotencyMiddleware
from wispanel.core.idempotency.store import (
    DatabaseIdempotencyStore,
    IdempotencyStore,
    RedisIdempotencyStore,
)
from wispanel.core.middleware.context import RequestContextMiddleware
from wispanel.core.openapi import build_openapi_document
from wispanel.core.ratelimit import RateLimitMiddleware, create_storage
from wispanel.core.secrets import ensure_secrets
from wispanel.dns.models import DnsZone
from wispanel.dns.router import router as dns_router
from wispanel.domains.router import router as domains_router
from wispanel.domains.router import system_router as php_versions_router
from wispanel.host.powerdns import PowerDns
from wispanel.host.runner import CommandRunner
from wispanel.host.web import WebHost
from wispanel.jobs.queue import JobQueue
from wispanel.jobs.router import router as jobs_router
from wispanel.meta.router import router as meta_router
from wispanel.ssl.issuance import register_ssl_jobs
from wispanel.ssl.router import router as ssl_router
from wispanel.system.router import health_router, services_router, system_router, version_router
from wispanel.system.sampler import register_sampler
from wispanel.system.version import build_info
from wispanel.users.packages import ensure_default_package
from wispanel.users.packages_router import router as packages_router
from wispanel.users.resellers_router import router as resellers_router
from wispanel.users.router import router as users_router
from wispanel.users.usage import register_disk_usage
from wispanel.webhooks.dispatch import install_webhooks
from wispanel.webhooks.router import router as webhooks_router

log = structlog.get_logger(__name__)
ROUTERS = (
    auth_router,
    api_keys_router,
    sso_mint_router,
    sso_exchange_router,
    sso_consume_router,
    jobs_router,
    meta_router,
    webhooks_router,
    users_router,
    resellers_router,
    packages_router,
    domains_router,
    php_versions_router,
    dns_router,
    ssl_router,
    system_router,
    health_router,
    services_router,
    version_router,
)

DESCRIPTION = """\
WisPanel turns API requests into configuration of a Linux host: nginx and PHP-FPM sites,
PowerDNS zones, MariaDB databases, mail, FTP, certificates, cron jobs and backups.

Send `Authorization: Bearer <token>` with a session token from `POST /api/v1/auth/login`
or an API key (`wsp_` and 48 hex digits). Every error uses one envelope:
`{success: false, code, error, message, status, details?, request_id}`; besides the codes
of the error table, `METHOD_NOT_ALLOWED` (405), `PAYLOAD_TOO_LARGE` (413) and
`HEADERS_TOO_LARGE` (431) describe transport errors. Lists return a bare array unless
`page` or `per_page` is given. Mutating requests may carry an `Idempotency-Key`; responses
to requests rejected before they ran (400, 401, 403, 413, 429) and 5xx responses are not
stored, so such requests may be retried with the same key.
"""


def build_context(settings: Settings) -> PanelContext:
    install_secrets = ensure_secrets(settings.data_dir)
    engine = create_api_engine(settings.database_url, echo=settings.database.echo)
    sync_engine = create_sync_engine(settings.database_url, echo=settings.database.echo)
    sessions = session_factory(engine)
    codec = TokenCodec(
        install_secrets.jwt_key,
        algorithm=settings.auth.jwt_algorithm,
        ttl_seconds=settings.auth.token_ttl,
    )
    cache = SessionCache(
        sessions,
        ttl_seconds=settings.auth.session_cache_seconds,
        touch_seconds=settings.auth.session_touch_seconds,
    )
    panel = PanelContext(
        settings=settings,
        secrets=install_secrets,
        engine=engine,
        sync_engine=sync_engine,
        sessions=sessions,
        hasher=password_hasher(settings.auth),
        authenticator=Authenticator(
            codec,
            cache,
            keys=ApiKeyCache(sessions, ttl_seconds=settings.auth.api_key_cache_seconds),
            ip_binding=settings.auth.ip_binding,
        ),
        events=EventBus(),
        jobs=JobQueue(sync_engine, data_dir=settings.data_dir, redis_url=settings.redis.url),
        runner=CommandRunner(),
    )
    panel.web = WebHost.for_settings(settings, panel.runner)
    panel.dns = PowerDns(settings, panel.runner)
    install_webhooks(panel)
    # `wispanel worker` builds its context here too, so it also runs the periodic jobs.
    register_disk_usage(panel)
    register_sampler(panel)
    register_ssl_jobs(panel)
    build_info(panel.runner)  # reads the git commit once, at start
    return panel


def _idempotency_store(panel: PanelContext) -> IdempotencyStore:
    settings = panel.settings
    if settings.redis.url:
        return RedisIdempotencyStore(
            settings.redis.url,
            ttl_seconds=settings.idempotency.ttl_seconds,
            lease_seconds=settings.idempotency.in_flight_lease_seconds,
        )
    return DatabaseIdempotencyStore(
        panel.sessions,
        ttl_seconds=settings.idempotency.ttl_seconds,
        lease_seconds=settings.idempotency.in_flight_lease_seconds,
    )


def _has_zones(panel: PanelContext) -> bool:
    """Whether the panel serves any DNS zone, so PowerDNS must run from the start."""
    with panel.sync_engine.connect() as connection:
        return connection.execute(select(DnsZone.id).limit(1)).first() is not None


def _lifespan(panel: PanelContext) -> Callable[[FastAPI], Any]:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        settings = panel.settings
        await anyio.to_thread.run_sync(migrate.upgrade, panel.sync_engine, settings.data_dir)
        await anyio.to_thread.run_sync(
            ensure_first_admin, panel.sync_engine, settings, panel.hasher
        )
        await anyio.to_thread.run_sync(ensure_default_package, panel.sync_engine)
        await anyio.to_thread.run_sync(panel.jobs.recover)
        if panel.web is not None:
            await anyio.to_thread.run_sync(panel.web.start_at_boot)
        if panel.dns is not None and await anyio.to_thread.run_sync(_has_zones, panel):
            await anyio.to_thread.run_sync(panel.dns.start_at_boot)
        if settings.jobs.run_in_process:
            panel.jobs.start_consumer(settings.jobs.workers)
        log.info("panel.started", version=__version__, profile=settings.server.profile)
        try:
            yield
        finally:
            panel.jobs.stop_consumer()
            if panel.web is not None:
                await anyio.to_thread.run_sync(panel.web.stop)
            if panel.dns is not None:
                await anyio.to_thread.run_sync(panel.dns.stop)
            await panel.engine.dispose()
            panel.sync_engine.dispose()
            log.info("panel.stopped")

    return lifespan


def create_app(settings: Settings) -> FastAPI:
    panel = build_context(settings)
    app = FastAPI(
        title="WisPanel API",
        version=__version__,
        description=DESCRIPTION,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan(panel),
        openapi_tags=[{"name": f.name, "description": f.description} for f in FOLDERS],
    )
    app.state.panel = panel
    app.state.sessions = panel.sessions
    for router in ROUTERS:
        app.include_router(router)
    install_error_handlers(app)

    @cache
    def openapi_document() -> dict[str, Any]:
        return build_openapi_document(
            app, title=app.title, version=app.version, description=DESCRIPTION
        )

    app.state.openapi_document = openapi_document
    # Added innermost first: a request passes context, authentication, rate limit, idempotency.
    app.add_middleware(
        IdempotencyMiddleware,
        store=_idempotency_store(panel),
        max_stored_body_bytes=settings.idempotency.max_stored_body_bytes,
    )
    app.add_middleware(
        RateLimitMiddleware,
        settings=settings.rate_limit,
        storage=create_storage(settings.redis.url),
    )
    app.add_middleware(AuthenticationMiddleware, authenticator=panel.authenticator)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.server.max_body_bytes,
        max_header_bytes=settings.server.max_header_bytes,
        trusted_proxies=settings.server.trusted_proxies,
        access_log=settings.logging.access_log,
    )
    return app
