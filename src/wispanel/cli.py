"""The `wispanel` command: serve the API, run jobs, migrate, check the host, write API documents."""

from __future__ import annotations

import gc
import json
import tempfile
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from wispanel import __version__
from wispanel.core.config import Settings, load_settings
from wispanel.core.errors import ConfigurationError
from wispanel.core.logging import configure_logging

app = typer.Typer(help="WisPanel web-hosting control panel.", no_args_is_help=True)
DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory (panel.db, secrets, configs); default ./var"),
]


def _settings(data_dir: Path | None, **server: Any) -> Settings:
    overrides = {key: value for key, value in server.items() if value is not None}
    try:
        settings = load_settings(data_dir, server=overrides)
    except ValueError as error:
        _fail(f"Invalid settings: {error}")
    configure_logging(format=settings.logging.format, level=settings.logging.level)
    return settings


def _fail(message: str) -> NoReturn:
    typer.echo(f"wispanel: {message}", err=True)
    raise typer.Exit(2)


@app.command()
def serve(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default 3082)")] = None,
    insecure_http: Annotated[
        bool, typer.Option("--insecure-http", help="Serve plain HTTP (behind a proxy, or tests)")
    ] = False,
) -> None:
    """Run the API (HTTPS with a per-install self-signed certificate unless configured)."""
    import uvicorn

    from wispanel.app import create_app
    from wispanel.core.tls import ensure_self_signed

    settings = _settings(data_dir, host=host, port=port, insecure_http=insecure_http or None)
    server = settings.server
    tls: dict[str, str] = {}
    if not server.insecure_http:
        cert, key = server.tls_cert_file, server.tls_key_file
        if cert is None or key is None:
            cert, key = ensure_self_signed(settings.data_dir / "tls")
        tls = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    try:
        app = create_app(settings)
    except ConfigurationError as error:
        _fail(str(error))
    # The modules and the app built so far live as long as the process. Moving them out of
    # the collector's reach keeps each full collection from walking about 200,000 objects,
    # which took about 100 ms, a pause every request in flight would wait for.
    gc.collect()
    gc.freeze()
    uvicorn.run(
        app,
        host=server.host,
        port=server.port,
        access_log=False,
        log_config=None,
        proxy_headers=False,
        server_header=False,
        **tls,  # type: ignore[arg-type]
    )


@app.command()
def worker(data_dir: DataDir = None) -> None:
    """Run background jobs in this process (when `jobs.run_in_process` is off for serve)."""
    from wispanel.app import build_context
    from wispanel.core import migrate

    settings = _settings(data_dir)
    try:
        panel = build_context(settings)
    except ConfigurationError as error:
        _fail(str(error))
    migrate.upgrade(panel.sync_engine, settings.data_dir)
    panel.jobs.recover()
    panel.jobs.consumer(settings.jobs.workers).run()


@app.command("migrate")
def migrate_command(data_dir: DataDir = None) -> None:
    """Bring the panel database to the newest schema."""
    from wispanel.core import migrate
    from wispanel.core.database import create_sync_engine

    settings = _settings(data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(create_sync_engine(settings.database_url), settings.data_dir)
    typer.echo("Database is at the newest schema.")


@app.command()
def doctor(
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
) -> None:
    """List every host component and the services the panel drives, and their state."""
    from wispanel.system.doctor import collect

    settings = _settings(data_dir)
    # The report is the output; the runner's line per version probe would only repeat it.
    configure_logging(format=settings.logging.format, level="WARNING")
    reports = collect(settings)
    if as_json:
        typer.echo(json.dumps(reports, indent=2))
        return
    table = Table(title=f"WisPanel {__version__}: host components")
    for column in ("component", "installed", "running", "version or state", "install with"):
        table.add_column(column)
    for report in reports:
        table.add_row(
            report["name"],
            "yes" if report["installed"] else "no",
            {True: "yes", False: "no", None: "-"}[report["running"]],
            report["version"] or "-",
            report["install_command"] if not report["installed"] else "",
        )
    Console().print(table)


@app.command("reconcile")
def reconcile_command(
    data_dir: DataDir = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only report the drift; exit 1 if there is any")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
) -> None:
    """Rebuild nginx blocks, PHP-FPM pools, document roots and zones from the database."""
    import asyncio

    from wispanel.core.errors import PanelError
    from wispanel.host.errors import HostError
    from wispanel.reconcile import reconcile

    settings = _settings(data_dir)
    try:
        drift = asyncio.run(reconcile(settings, repair=not dry_run))
    except PanelError as error:
        _fail(error.message)
    except HostError as error:
        _fail(str(error))
    if as_json:
        typer.echo(json.dumps([vars(item) for item in drift], indent=2))
    elif not drift:
        typer.echo("The host matches the database.")
    else:
        verb = "found" if dry_run else "repaired"
        table = Table(title=f"Drift {verb}: {len(drift)}")
        for column in ("component", "name", "action"):
            table.add_column(column)
        for item in drift:
            table.add_row(item.component, item.name, item.action)
        Console().print(table)
    if dry_run and drift:
        raise typer.Exit(1)


def _document() -> dict[str, Any]:
    from wispanel.app import create_app

    with tempfile.TemporaryDirectory(prefix="wispanel-doc-") as directory:
        settings = load_settings(Path(directory))
        document: dict[str, Any] = create_app(settings).state.openapi_document()
    return document


@app.command()
def openapi(
    output: Annotated[Path, typer.Argument(help="File to write; .json or .yaml")],
) -> None:
    """Write the OpenAPI 3.0 document."""
    from wispanel.core.openapi import to_yaml

    document = _document()
    text = json.dumps(document, indent=2) + "\n" if output.suffix == ".json" else to_yaml(document)
    output.write_text(text, encoding="utf-8")
    typer.echo(f"Wrote {output}")


@app.command()
def postman(
    output: Annotated[Path, typer.Argument(help="File to write")] = Path(
        "sdk/whmcs/wispanel-api.postman_collection.json"
    ),
) -> None:
    """Write the Postman collection generated from the OpenAPI document."""
    from wispanel.core.postman import build_postman_collection, to_json

    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(to_json(build_postman_collection(_document())), encoding="utf-8")
    typer.echo(f"Wrote {output}")
