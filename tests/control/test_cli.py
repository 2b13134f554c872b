"""The commands as operators run them: `admin … --json`, then `api` (with its relay) as a real subprocess."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

import httpx
import psycopg
import pytest

from schemas.ops import free_port
from schemas.settings import Settings
from tests.control.topic import published_lists
from tests.processes import Component, settings_env


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callapi_events", *args], env=settings_env(settings),
                          capture_output=True, text=True, errors="replace", timeout=120)


def cli_json(settings: Settings, *args: str) -> dict[str, Any]:
    done = cli(settings, *args, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def free_code(conn: psycopg.Connection[Any]) -> str:
    taken = {row[0] for row in conn.execute("SELECT code FROM accounts WHERE code IS NOT NULL").fetchall()}
    return next(code for code in (f"{n:04d}" for n in range(5000, 10_000)) if code not in taken)



def wait_healthy(url: str, component: Component) -> None:
    for _ in range(300):
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(component.log())


def test_admin_commands_then_api_with_relay(conn: psycopg.Connection[Any], settings: Settings) -> None:
    provider = cli_json(settings, "admin", "provider", "create", "ACME Hosting")
    assert set(provider) == {"id", "kind", "name"} and provider["kind"] == "provider"
    code = free_code(conn)
    org = cli_json(settings, "admin", "org", "create", "--provider", str(provider["id"]), code, "ACME Pty")
    assert (org["kind"], org["code"], org["provider_id"]) == ("organization", code, provider["id"])
    extension = cli_json(settings, "admin", "extension", "create", "--org", str(org["id"]), f"{code}101")
    assert extension["number"] == f"{code}*101"
    client = cli_json(settings, "admin", "client", "create", "--account", str(org["id"]))
    assert set(client) == {"client_id", "client_secret", "account_id"} and client["account_id"] == org["id"]
    secret_hash = conn.execute("SELECT secret_hash FROM api_clients WHERE client_id = %s",
                               (client["client_id"],)).fetchone()
    assert secret_hash and secret_hash[0].startswith("$argon2id$") and client["client_secret"] not in secret_hash[0]

    port = free_port()
    with Component(settings, "api", "--port", str(port)) as api:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, api)
        token = httpx.post(f"{url}/oauth/token", data={"grant_type": "client_credentials", **{
            k: client[k] for k in ("client_id", "client_secret")}}).json()["access_token"]
        added = httpx.post(f"{url}/uapi/extensions/@me/{code}%2A101/phoneCallEvents",
                           headers={"Authorization": f"Bearer {token}"},
                           json={"type": 0, "method": "POST", "url": "http://127.0.0.1:9/crm"})
        assert added.status_code == 201, added.text
        lists = asyncio.run(published_lists(settings, f"{code}*101", until=lambda items: len(items) == 1))
        assert [item.id for item in lists[-1]] == [added.json()["id"]], api.log()

    revoked = cli_json(settings, "admin", "client", "revoke", client["client_id"])
    assert revoked == {"client_id": client["client_id"], "revoked": True}
    again = cli(settings, "admin", "client", "revoke", client["client_id"])  # a typo must not pass unseen
    assert again.returncode == 2 and "not active" in again.stdout + again.stderr  # refused input, as in `admin`


def test_admin_errors_say_what_is_wrong(settings: Settings) -> None:
    """Refused input exits 2 (bad usage or input), as the README's convention says; 1 is for the environment."""
    done = cli(settings, "admin", "org", "create", "--provider", "999999999", "0042", "Nobody")
    assert done.returncode == 2 and "not_found" in done.stderr
    done = cli(settings, "admin", "extension", "create", "--org", "999999999", "210")
    assert done.returncode == 2 and "no organization" in done.stderr
    # five digits would make the extended form ambiguous: `12345210` reads as organization 1234's `5210`
    done = cli(settings, "admin", "org", "create", "--provider", "999999999", "12345", "Too Long")
    assert done.returncode == 2 and "code_invalid" in done.stderr and "1-4 digits" in done.stderr
    done = cli(settings, "admin", "org", "create", "--provider", "999999999", "0042", "Nobody", "--json")
    assert done.returncode == 2 and done.stdout == "" and "not_found" in done.stderr  # stdout stays for results


def test_create_many_makes_ranges_of_extensions_all_or_none(conn: psycopg.Connection[Any], settings: Settings) -> None:
    provider = cli_json(settings, "admin", "provider", "create", "Bulk Hosting")
    code = free_code(conn)
    org = cli_json(settings, "admin", "org", "create", "--provider", str(provider["id"]), code, "Bulk Pty")
    many = ("admin", "extension", "create-many", "--org", str(org["id"]))
    made = cli_json(settings, *many, "200-203", f"{code}*090", "210")
    assert [e["number"] for e in made["created"]] == [f"{code}*{n}" for n in ("200", "201", "202", "203", "090", "210")]
    assert made["existing"] == [] and made["organization_id"] == org["id"]

    refused = cli(settings, *many, "209-211")  # 210 exists: nothing is created
    assert refused.returncode == 2 and "extension_taken" in refused.stderr
    again = cli_json(settings, *many, "--existing-ok", "209-211")
    assert [e["number"] for e in again["created"]] == [f"{code}*209", f"{code}*211"]
    assert again["existing"] == [{"id": made["created"][-1]["id"], "number": f"{code}*210"}]

    invalid = cli(settings, *many, "300", "0001*301")  # another organization's number: nothing is created
    assert invalid.returncode == 2 and "extension_invalid" in invalid.stderr
    other_digits = cli(settings, *many, "\u0663\u0660\u0660-\u0663\u0660\u0662")  # not 300-302
    assert other_digits.returncode == 2 and "extension_invalid" in other_digits.stderr, other_digits.stderr
    numbers = {row[0] for row in conn.execute(
        "SELECT number FROM extensions WHERE organization_id = %s", (org["id"],)).fetchall()}
    assert numbers == {f"{code}*{n}" for n in ("200", "201", "202", "203", "090", "209", "210", "211")}
    backwards = cli(settings, *many, "20-10")
    assert backwards.returncode == 2 and "lower to a higher" in backwards.stderr + backwards.stdout


def test_names_with_brackets_are_printed_as_given(settings: Settings) -> None:
    name = "ACME [bold]Hosting[/bold] [/]"  # brackets are text to an operator, not terminal markup
    made = cli(settings, "admin", "provider", "create", name)
    assert made.returncode == 0 and name in made.stdout, made.stdout + made.stderr
    refused = cli(settings, "admin", "org", "create", "--provider", "1", "[/]", "ACME Pty")
    assert refused.returncode == 2 and "code_invalid" in refused.stderr and "'[/]'" in refused.stderr, (
        refused.stdout + refused.stderr)


def test_text_postgresql_cannot_store_is_refused_with_a_message(settings: Settings) -> None:
    undecodable = "ACME \udcff"  # the byte 0xff on the command line: not UTF-8
    refused = cli(settings, "admin", "provider", "create", undecodable)
    assert refused.returncode == 2 and "name_invalid" in refused.stderr, refused.stdout + refused.stderr
    unknown = cli(settings, "admin", "client", "revoke", "cli_\udcff")
    assert unknown.returncode == 2 and "not active" in unknown.stderr, unknown.stdout + unknown.stderr


@pytest.mark.parametrize("name", ["ACME\nPty", "\x1b[31mACME", "ACME\x9b2J", "ACME\x7f"])
def test_a_name_with_control_characters_is_refused(settings: Settings, name: str) -> None:
    """A line break or an escape sequence in a name would rewrite an operator's terminal and logs."""
    refused = cli(settings, "admin", "provider", "create", name)
    assert refused.returncode == 2 and "name_invalid" in refused.stderr, refused.stdout + refused.stderr
    assert "control characters" in refused.stderr
