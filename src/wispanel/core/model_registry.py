"""Import every module that defines tables, so the ORM metadata is complete."""

from __future__ import annotations

import importlib

MODEL_MODULES = (
    "wispanel.users.models",
    "wispanel.auth.models",
    "wispanel.jobs.models",
    "wispanel.core.models",
    "wispanel.domains.models",
    "wispanel.dns.models",
    "wispanel.webhooks.models",
    "wispanel.system.models",
    "wispanel.ssl.models",
)


def import_models() -> None:
    for module in MODEL_MODULES:
        importlib.import_module(module)
