"""`callapi-events admin`: providers, organizations, extensions and API clients (stable `--json` output)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.markup import escape

from schemas.consoles import stderr_console, stdout_console
from schemas.hints import NOT_MIGRATED
from schemas.settings import Settings

console = stdout_console()
notices = stderr_console()  # errors: stdout keeps the result (text or --json)
T = TypeVar("T")
admin_app = typer.Typer(help="Accounts and API clients: providers own organizations, organizations own "
                        "extensions, API clients act for one account.", no_args_is_help=True)
provider_app = typer.Typer(help="Service providers.", no_args_is_help=True)
org_app = typer.Typer(help="Organizations (tenants, with a numeric code such as 0003).", no_args_is_help=True)
extension_app = typer.Typer(help="Extensions of an organization.", no_args_is_help=True)
client_app = typer.Typer(help="OAuth 2.0 API clients (client credentials).", no_args_is_help=True)
admin_app.add_typer(provider_app, name="provider")
admin_app.add_typer(org_app, name="org")
admin_app.add_typer(extension_app, name="extension")
admin_app.add_typer(client_app, name="client")
JsonOption = typer.Option(False, "--json", help="Print one JSON object (stable keys, for scripts).")


def _run(action: Callable[[Any], T]) -> T:
    """Run `action(conn)` on an autocommit connection. Errors become a message and an exit status, as the
    README's convention says: 2 when the control plane refuses the input, 1 when PostgreSQL is unusable."""
    import psycopg

    from control.errors import ControlError, Unavailable

    try:
        with psycopg.connect(Settings().database_url, autocommit=True) as conn:
            return action(conn)
    except psycopg.OperationalError as error:
        notices.print(f"[red]Cannot reach PostgreSQL:[/red] {escape(str(error))}\nSet CALLAPI_DATABASE_URL or run "
                      "`callapi-events stack up`, then `callapi-events db migrate`.")
    except psycopg.errors.UndefinedTable:  # reachable, but not this project's schema (yet)
        notices.print(NOT_MIGRATED)
    except ControlError as error:
        notices.print(f"[red]{error.code}:[/red] {escape(error.message)}")  # messages quote the input
        raise typer.Exit(1 if isinstance(error, Unavailable) else 2) from None
    raise typer.Exit(1)


def _emit(as_json: bool, document: dict[str, Any], text: str) -> None:
    """`document` as JSON, or `text` (Rich markup: escape() what operators typed, such as names)."""
    if as_json:
        print(json.dumps(document))
    else:
        console.print(text)


@provider_app.command("create")
def provider_create(name: str = typer.Argument(..., help="Display name."), as_json: bool = JsonOption) -> None:
    """Create a service provider; prints its id."""
    from control.service import create_provider

    account = _run(lambda conn: create_provider(conn, name))
    _emit(as_json, {"id": account.id, "kind": "provider", "name": account.name},
          f"provider [bold]{account.id}[/bold] {escape(account.name)}")


@org_app.command("create")
def org_create(code: str = typer.Argument(..., help="Numeric organization code, e.g. 0003."),
               name: str = typer.Argument(..., help="Display name."),
               provider: int = typer.Option(..., "--provider", help="Id of the owning provider."),
               as_json: bool = JsonOption) -> None:
    """Create an organization under a provider; prints its id."""
    from control.service import create_organization

    org = _run(lambda conn: create_organization(conn, provider, code, name))
    _emit(as_json, {"id": org.id, "kind": "organization", "name": org.name, "code": org.code,
                    "provider_id": provider}, f"organization [bold]{org.id}[/bold] {org.code} {escape(org.name)}")


@extension_app.command("create")
def extension_create(number: str = typer.Argument(..., help="0003*210, 0003210, or 210 (the org code is added)."),
                     org: int = typer.Option(..., "--org", help="Id of the owning organization."),
                     as_json: bool = JsonOption) -> None:
    """Create an extension of an organization; prints its canonical number."""
    from control.service import create_extension

    extension = _run(lambda conn: create_extension(conn, org, number))
    _emit(as_json, {"id": extension.id, "kind": "extension", "number": extension.number, "organization_id": org},
          f"extension [bold]{extension.number}[/bold] (id {extension.id})")


MAX_RANGE = 10_000


def expand_numbers(tokens: list[str]) -> list[str]:
    """Extension numbers with ranges spelled out: `200-203` → 200 201 202 203, `0003*010-012` → 0003*010 …
    (the width of the first number is kept)."""
    numbers: list[str] = []
    for token in tokens:
        # ASCII digits, as many as an extension has: int() would read other scripts' digits ("٢٠٠" as 200) and
        # refuse 4,301 digits and more with a traceback; such a token is left to the extension's own check
        match = re.fullmatch(r"(\d{1,4}\*)?(\d{1,14})-(\d{1,14})", token.strip(), re.ASCII)
        if match is None:
            numbers.append(token)
            continue
        prefix, first, last = match.group(1) or "", match.group(2), match.group(3)
        if int(last) < int(first) or int(last) - int(first) >= MAX_RANGE:
            raise typer.BadParameter(f"{token}: a range runs from a lower to a higher number, at most "
                                     f"{MAX_RANGE:,} of them", param_hint="NUMBERS")
        numbers += [f"{prefix}{n:0{len(first)}d}" for n in range(int(first), int(last) + 1)]
    return numbers


@extension_app.command("create-many")
def extension_create_many(
    numbers: list[str] = typer.Argument(..., help="Numbers as for `create`, and ranges such as 200-299."),
    org: int = typer.Option(..., "--org", help="Id of the owning organization."),
    existing_ok: bool = typer.Option(False, "--existing-ok",
                                     help="Accept numbers this organization already has, instead of failing."),
    as_json: bool = JsonOption,
) -> None:
    """Create many extensions of an organization at once, all or none (for provisioning)."""
    from control.service import create_extensions

    wanted = expand_numbers(numbers)
    results = _run(lambda conn: create_extensions(conn, org, wanted, existing_ok=existing_ok))
    created = [{"id": e.id, "number": e.number} for e, new in results if new]
    existing = [{"id": e.id, "number": e.number} for e, new in results if not new]
    _emit(as_json, {"organization_id": org, "created": created, "existing": existing},
          f"organization {org}: created [bold]{len(created)}[/bold] extensions"
          + (f", {len(existing)} were there already" if existing else ""))


@client_app.command("create")
def client_create(account: int = typer.Option(..., "--account", help="Id of the provider or organization."),
                  as_json: bool = JsonOption) -> None:
    """Create an API client; prints client_id and client_secret (the secret only this once: store it now)."""
    from control.service import create_client

    creds = _run(lambda conn: create_client(conn, account))
    _emit(as_json, {"client_id": creds.client_id, "client_secret": creds.client_secret, "account_id": account},
          f"client_id     {creds.client_id}\nclient_secret {creds.client_secret}\n"
          "[yellow]The secret is shown only now; it is stored only as a hash.[/yellow]")


@client_app.command("revoke")
def client_revoke(client_id: str = typer.Argument(..., help="The client_id to revoke."),
                  as_json: bool = JsonOption) -> None:
    """Revoke an API client: its tokens stop working at once."""
    from control.service import revoke_client

    revoked = _run(lambda conn: revoke_client(conn, client_id))
    if revoked or as_json:
        _emit(as_json, {"client_id": client_id, "revoked": revoked}, f"{escape(client_id)} revoked")
    else:
        notices.print(f"{escape(client_id)} was not active (unknown or already revoked)")
    if not revoked:  # a mistyped id must not look like success to a script; refused input, as the rest of `admin`
        raise typer.Exit(2)
