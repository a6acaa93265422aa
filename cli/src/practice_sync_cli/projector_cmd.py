"""`practice-sync active-patients` and `practice-sync contacts`: the projector's read models."""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import typer
from rich.table import Table

from practice_sync_cli import output
from practice_sync_cli.credentials_cmd import fail_unless_known_org
from practice_sync_cli.stack import service_url
from practice_sync_cli.state import admin_token


def _get(path: str, params: dict[str, Any]) -> dict[str, Any]:
    base = os.environ.get("PROJECTOR_URL") or service_url("projector")
    headers = {"Authorization": f"Bearer {admin_token()}"}
    try:
        r = httpx.get(f"{base}{path}", params=params, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        # Not a usage error: the arguments are fine, the service is not there.
        output.fail(
            f"cannot reach the projector at {base} ({type(exc).__name__}); is it running?"
            " (set PROJECTOR_URL if it runs elsewhere)",
            2,
        )
    if not r.is_success:
        output.refused(r)
    try:
        body = r.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):  # e.g. a proxy's HTML page answering for the projector
        output.fail(f"GET {path} → {r.status_code}: not a JSON object: {r.text[:200]}")
    return dict(body)


def active_patients(
    org: str = typer.Option(..., "--org", help="organization id"),
    as_json: bool = typer.Option(False, "--json", help="print the API's JSON instead of a table"),
    sort: str = typer.Option(
        "last_appointment_date", help="last_appointment_date, total_appointment_count, name, ..."
    ),
    limit: int = typer.Option(100, min=1, max=500),
) -> None:
    """An org's active patients (from the projector's read model)."""
    body = _get(f"/orgs/{org}/active-patients", {"sort": sort, "limit": limit})
    if not body["data"]:
        fail_unless_known_org(org, 1)
    if as_json:
        typer.echo(json.dumps(body, indent=2))
        return
    table = Table(title=f"active patients of {org} ({body['meta']['total']})")
    for col in ("patient", "name", "email", "recent", "upcoming", "total", "last appointment", "link"):
        table.add_column(col)
    for p in body["data"]:
        table.add_row(
            p["cliniko_patient_id"],
            p["contact"]["name"] or "",
            p["contact"]["email"] or "",
            str(p["recent_appointment_count"]),
            str(p["upcoming_appointment_count"]),
            str(p["total_appointment_count"]),
            (p["last_appointment_date"] or "")[:16],
            p["link_method"],
        )
    output.console().print(table)


def contacts(
    org: str = typer.Option(..., "--org", help="organization id"),
    as_json: bool = typer.Option(False, "--json", help="print the API's JSON instead of a table"),
    limit: int = typer.Option(100, min=1, max=500),
) -> None:
    """An org's contacts (from the projector's read model)."""
    body = _get(f"/orgs/{org}/contacts", {"limit": limit})
    if not body["data"]:
        fail_unless_known_org(org, 1)
    if as_json:
        typer.echo(json.dumps(body, indent=2))
        return
    table = Table(title=f"contacts of {org} ({body['meta']['total']})")
    for col in ("id", "name", "email", "phone", "source", "clio id", "cliniko patient"):
        table.add_column(col)
    for c in body["data"]:
        table.add_row(
            c["id"],
            c["name"] or "",
            c["email"] or "",
            c["phone"] or "",
            c["source"],
            c["clio_id"] or "",
            c["cliniko_patient_id"] or "",
        )
    output.console().print(table)
