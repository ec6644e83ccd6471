"""The Jinja2 environment every host config is rendered with."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape


@cache
def environment() -> Environment:
    """Return the shared environment: undefined names raise, and only HTML is escaped."""
    return Environment(
        loader=PackageLoader("wispanel", "templates"),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, **values: Any) -> str:
    """Render one template under ``src/wispanel/templates`` with ``values``."""
    return environment().get_template(template).render(**values)
