"""Alembic environment: runs on the connection `wispanel.core.migrate` hands over."""

from __future__ import annotations

from alembic import context

from wispanel.core.database import Base
from wispanel.core.model_registry import import_models

import_models()
config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `wispanel migrate`, which supplies the connection")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
