"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from wispanel.core import migrate
from wispanel.core.database import Base, create_sync_engine
from wispanel.core.model_registry import import_models


def test_one_linear_history() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1


def test_migrations_match_models(tmp_path: Path) -> None:
    engine = create_sync_engine(f"sqlite:///{tmp_path / 'panel.db'}")
    migrate.upgrade(engine, tmp_path)
    import_models()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == []
