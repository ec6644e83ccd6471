"""Everything a request or job needs from the running panel, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import Request

from wispanel.core.config import Settings
from wispanel.core.events import EventBus
from wispanel.core.secrets import InstallSecrets

if TYPE_CHECKING:
    from wispanel.auth.principal import Authenticator
    from wispanel.host.powerdns import PowerDns
    from wispanel.host.runner import CommandRunner
    from wispanel.host.web import WebHost
    from wispanel.jobs.queue import JobQueue


@dataclass
class PanelContext:
    settings: Settings
    secrets: InstallSecrets
    engine: AsyncEngine
    sync_engine: Engine
    sessions: async_sessionmaker[AsyncSession]
    hasher: PasswordHasher
    authenticator: Authenticator
    events: EventBus
    jobs: JobQueue
    runner: CommandRunner
    # nginx and PHP-FPM of the configured profile; None only in contexts built without it.
    web: WebHost | None = None
    # PowerDNS of the configured profile; None only in contexts built without it.
    dns: PowerDns | None = None


async def get_panel(request: Request) -> PanelContext:
    panel: PanelContext = request.app.state.panel
    return panel
