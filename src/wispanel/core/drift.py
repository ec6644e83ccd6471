"""A difference between the panel database and the host, as `wispanel reconcile` reports it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Drift:
    """One difference between the database and the host."""

    component: str  # "nginx", "php-fpm", "document root" or "powerdns"
    name: str  # a domain, a pool ("john php8.2"), a zone, or a file name
    action: str  # "create", "update", "remove", or why the file is left alone
