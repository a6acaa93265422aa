"""`practice-sync credentials …`: set and list provider credentials through the credentials service."""

from __future__ import annotations

import os
import sys
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import typer
from rich.markup import escape
from rich.table import Table

from practice_sync_cli import output
from practice_sync_cli.state import admin_token
from practice_sync_common.org_ids import InvalidOrgId, canonical_org_id
from practice_sync_common.ports import LOOPBACK, SERVICE_PORTS

credentials_app = typer.Typer(
    help="Provider credentials per organization (stored encrypted by the credentials service).",
    no_args_is_help=True,
)
console = output.console()
PROVIDERS = ("cliniko", "clio")
# Where an unknown org's error sends the operator. There is no org listing command; every org that
# can have synced data got there through credentials, so this lists the ones a typo was meant to be.
LIST_ORGS_HINT = "`practice-sync credentials list` lists the orgs with credentials"
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class CredentialsError(Exception):
    """A failed call to the credentials service, with a message meant for the operator."""


def default_url() -> str:
    return os.environ.get("CREDENTIALS_URL") or f"http://{LOOPBACK}:{SERVICE_PORTS['credentials']}"


def _check(r: httpx.Response) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        body = None
    if r.is_success and isinstance(body, dict):
        return body
    message = body.get("error", {}).get("message") if isinstance(body, dict) else None
    hint = f" ({output.TOKEN_HINT})" if r.status_code == 401 else ""
    raise CredentialsError(
        f"{r.request.method} {r.request.url.path} → {r.status_code}: {message or r.text[:200]}{hint}"
    )


def set_cliniko(
    client: httpx.Client, org: str, api_key: str, api_url: str | None, validate: bool = True
) -> dict[str, Any]:
    body: dict[str, Any] = {"api_key": api_key, "validate": validate}
    if api_url:
        body["api_url"] = api_url
    return _check(client.put(f"/admin/orgs/{org}/credentials/cliniko", json=body))


def start_clio(client: httpx.Client, org: str, region: str | None = None) -> str:
    params = {"org_id": org, **({"region": region} if region else {})}
    return str(_check(client.get("/oauth/clio/start", params=params))["authorize_url"])


def org_known(client: httpx.Client, org: str) -> bool:
    """Whether the org registry (the credentials service) holds `org`.

    Raises CredentialsError when the service refuses (an invalid id is its 422) and httpx.HTTPError
    when it cannot be reached.
    """
    r = client.get(f"/admin/orgs/{quote(org, safe='')}")
    if r.status_code == 404 and _error_type(r) == "unknown_org":
        return False
    # Any other 404 (a credentials service without this route) is no answer about the org: an error.
    found = _check(r).get("id")
    try:
        wanted = canonical_org_id(org)  # the registry stores UUID ids lowercased
    except InvalidOrgId:
        return False  # an id the registry's rule refuses, whose '/' routed the request elsewhere
    return found == wanted


def _error_type(r: httpx.Response) -> object:
    try:
        body = r.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("type") if isinstance(error, dict) else None


def fail_unless_known_org(org: str, code: int, base: str | None = None) -> None:
    """Exit with `code` when the org registry does not hold `org`.

    For read commands whose result came back empty: without it a mistyped org id reads as an org
    with nothing in it. A non-empty result proves the org, so they need not ask.
    """
    base = base or default_url()
    try:
        with admin_client(base, admin_token()) as client:
            known = org_known(client, org)
    except httpx.HTTPError as exc:
        output.fail(
            f"cannot check that org {org!r} exists: cannot reach the credentials service at {base}"
            f" ({type(exc).__name__}); is it running? (set CREDENTIALS_URL if it runs elsewhere)",
            2,
        )
    except CredentialsError as exc:
        output.fail(f"cannot check that org {org!r} exists: {exc}", code)
    if not known:
        output.fail(
            f"unknown org {org!r}: the org registry at {base} has no such org; {LIST_ORGS_HINT}", code
        )


def complete_clio_by_redirects(authorize_url: str, timeout: float = 30.0) -> dict[str, Any]:
    """Follow the authorize URL to our callback, as a browser would after an automatic consent.

    Only the Clio sandbox approves without a person; its own client (no admin token) is used so no
    credential of ours travels to the provider.
    """
    with httpx.Client(follow_redirects=True, timeout=timeout) as browser:
        r = browser.get(authorize_url)
    return _check(r)


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in _LOOPBACK_HOSTS or host.startswith("127.")


def admin_client(base_url: str, token: str, timeout: float = 30.0) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)


def _fail(message: str, code: int = 1) -> typer.Exit:
    # On stderr, so `credentials list --json` leaves nothing but JSON on stdout.
    output.error_console().print(f"[red]error:[/] {escape(message)}")
    return typer.Exit(code)


@credentials_app.command("set")
def set_command(
    org: str = typer.Option(..., "--org", help="organization id"),
    provider: str = typer.Option(..., "--provider", help="cliniko or clio"),
    api_key: str | None = typer.Option(
        None,
        "--api-key",
        envvar="CLINIKO_API_KEY",
        help="Cliniko API key (Clio uses OAuth instead); or set CLINIKO_API_KEY, or type it when asked,"
        " to keep it out of shell history and the process list",
    ),
    api_url: str | None = typer.Option(
        None, "--api-url", help="Cliniko API base URL (default: from the key)"
    ),
    validate: bool = typer.Option(True, "--validate/--no-validate", help="ask Cliniko whether the key works"),
    region: str | None = typer.Option(None, "--region", help="Clio region: us, eu, ca or au"),
    follow: bool | None = typer.Option(
        None,
        "--follow/--no-follow",
        help="complete the Clio flow by following redirects (default: only for a loopback sandbox)",
    ),
    url: str = typer.Option(
        None, "--url", help="credentials service URL", show_default="http://127.0.0.1:8001"
    ),
) -> None:
    """Store a provider credential for an organization (Cliniko: API key; Clio: OAuth)."""
    provider = provider.strip().lower()
    if provider not in PROVIDERS:
        raise _fail(f"unknown provider {provider!r}; expected one of: {', '.join(PROVIDERS)}", 2)
    base = url or default_url()
    try:
        with admin_client(base, admin_token()) as client:
            if provider == "cliniko":
                if not api_key and sys.stdin.isatty():
                    api_key = typer.prompt("Cliniko API key", hide_input=True)
                if not api_key:
                    raise _fail("a Cliniko API key is required: --api-key, CLINIKO_API_KEY, or type it", 2)
                cred = set_cliniko(client, org, api_key, api_url, validate)
                _print_credentials([cred])
                if cred["status"] not in ("valid", "unvalidated"):
                    raise _fail(f"stored, but the key does not work: {cred['status_message']}")
                return
            if api_key or api_url:
                raise _fail("Clio connects through OAuth: omit --api-key/--api-url", 2)
            authorize_url = start_clio(client, org, region)
            if follow is False or (follow is None and not is_loopback(authorize_url)):
                console.print(
                    "Open this URL in a browser and approve the app; Clio then returns to the service:"
                )
                console.print(authorize_url, soft_wrap=True)
                return
            done = complete_clio_by_redirects(authorize_url)
            console.print(f"[green]connected[/] {done['org_id']} to clio: {done['message']}")
    except httpx.HTTPError as exc:
        raise _fail(
            f"cannot reach the credentials service at {base} ({type(exc).__name__}); is it running?", 2
        ) from None
    except CredentialsError as exc:
        raise _fail(str(exc)) from None


@credentials_app.command("list")
def list_command(
    org: str | None = typer.Option(None, "--org", help="only this organization"),
    provider: str | None = typer.Option(None, "--provider", help="only this provider"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
    url: str = typer.Option(
        None, "--url", help="credentials service URL", show_default="http://127.0.0.1:8001"
    ),
) -> None:
    """List stored credentials: metadata and health only, never the secrets."""
    base = url or default_url()
    params = {k: v for k, v in {"org": org, "provider": provider}.items() if v}
    try:
        with admin_client(base, admin_token()) as client:
            creds = _check(client.get("/admin/credentials", params=params))["credentials"]
    except httpx.HTTPError as exc:
        raise _fail(
            f"cannot reach the credentials service at {base} ({type(exc).__name__}); is it running?", 2
        ) from None
    except CredentialsError as exc:
        raise _fail(str(exc)) from None
    if org and not creds:
        fail_unless_known_org(org, 1, base)
    if as_json:
        import json

        console.print_json(json.dumps(creds))
        return
    if not creds:
        console.print("no credentials" + (f" for {org}" if org else ""))
        return
    _print_credentials(creds)


_STATUS_STYLE = {"valid": "green", "unvalidated": "yellow", "needs_reauth": "red"}


def _print_credentials(creds: list[dict[str, Any]]) -> None:
    table = Table()
    for col in ("org", "provider", "kind", "status", "hint", "api url", "key", "expires", "message"):
        table.add_column(col)
    for c in creds:
        style = _STATUS_STYLE.get(c["status"], "red")
        kind = c["kind"] + (f" {c['name']}" if c.get("name") else "")
        table.add_row(
            c["org_id"],
            c["provider"],
            kind,
            f"[{style}]{c['status']}[/]",
            c.get("hint") or "",
            c.get("api_url") or "",
            c.get("key_id") or "",
            (c.get("expires_at") or "")[:19],
            c.get("status_message") or "",
        )
    console.print(table)
