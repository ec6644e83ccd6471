"""`wispanel reconcile`: rebuild the host's web and DNS state from the panel database.

Each area finds its own drift (domains: nginx blocks, PHP-FPM pools and document roots;
DNS: PowerDNS zones). With `repair` every difference is then written: the web files as one
checked change, each zone through the PowerDNS API. Daemons that are not running are
started, as the panel would start them for a change.
"""

from __future__ import annotations

from wispanel.app import build_context
from wispanel.core.config import Settings
from wispanel.core.drift import Drift
from wispanel.dns import reconcile as dns_reconcile
from wispanel.domains import reconcile as web_reconcile


async def reconcile(settings: Settings, *, repair: bool) -> list[Drift]:
    """Return the drift found; with `repair`, also remove it."""
    panel = build_context(settings)
    try:
        async with panel.sessions() as db:
            web_plan = await web_reconcile.find_drift(db, panel)
            dns_plan = await dns_reconcile.find_drift(db, panel)
        if repair:
            await web_reconcile.repair(panel, web_plan)
            await dns_reconcile.repair(panel, dns_plan)
    finally:
        if panel.dns is not None:
            panel.dns.stop_api_client()
        await panel.engine.dispose()
        panel.sync_engine.dispose()
    return web_plan.drift + dns_plan.drift
