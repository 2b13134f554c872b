"""Commands of the control plane: database migrations, the API, the relay, admin."""

from __future__ import annotations

import typer
from rich.console import Console

from schemas.settings import Settings

console = Console()
db_app = typer.Typer(help="The PostgreSQL database: configuration, tenants, credentials, delivery log.")


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending migrations in order (safe to run from several pods at once)."""
    import psycopg

    from control.migrate import migrate

    settings = Settings()
    try:
        applied = migrate(settings.database_url)
    except psycopg.OperationalError as error:
        console.print(
            f"[red]Cannot reach PostgreSQL:[/red] {error}\n"
            "Set CALLAPI_DATABASE_URL, or start the local stack with `callapi-events stack up`."
        )
        raise typer.Exit(1) from None
    for name in applied:
        console.print(f"[green]applied[/green] {name}")
    console.print(f"{len(applied)} migration(s) applied; the database is up to date.")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
