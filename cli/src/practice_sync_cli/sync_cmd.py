"""`practice-sync sync …`: ask a connector for a sync run and follow it, or list recent runs."""

from __future__ import annotations

import os
import time
from typing import Any, NoReturn

import httpx
import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from practice_sync_cli import output
from practice_sync_cli.credentials_cmd import fail_unless_known_org
from practice_sync_cli.stack import service_url
from practice_sync_cli.state import admin_token

sync_app = typer.Typer(help="Sync runs of the connectors (Cliniko, Clio).", no_args_is_help=True)
console = output.console()
# Which service owns each provider's runs.
OWNERS = {"cliniko": "cliniko-sync", "clio": "clio-gateway"}
# Where each owner is when not on the local stack's port (as PROJECTOR_URL, CREDENTIALS_URL).
URL_ENV = {"cliniko": "CLINIKO_SYNC_URL", "clio": "CLIO_GATEWAY_URL"}


def _base_url(provider: str) -> str:
    return os.environ.get(URL_ENV[provider]) or service_url(OWNERS[provider])


def _client(provider: str) -> httpx.Client:
    return httpx.Client(
        base_url=_base_url(provider),
        headers={"Authorization": f"Bearer {admin_token()}"},
        timeout=15,
    )


def _fail(r: httpx.Response) -> NoReturn:
    output.refused(r, 1)


def _unreachable(provider: str, exc: httpx.HTTPError) -> NoReturn:
    output.fail(
        f"cannot reach {OWNERS[provider]} at {_base_url(provider)} "
        f"({type(exc).__name__}); is it running? (set {URL_ENV[provider]} if it runs elsewhere)",
        2,
    )


@sync_app.command("request")
def request(
    org: str = typer.Option(..., "--org", help='organization id, or "*" for every org'),
    provider: str = typer.Option(..., "--provider", help="cliniko or clio"),
    mode: str = typer.Option("auto", "--mode", help="auto, full or incremental"),
    wait: bool = typer.Option(False, "--wait", help="follow the run with a progress bar until it ends"),
) -> None:
    """Request a sync; with --wait, exit non-zero if the run fails."""
    provider = provider.strip().lower()
    if provider not in OWNERS:
        output.fail(f"unknown provider {provider!r}; expected one of: {', '.join(OWNERS)}", 2)
    try:
        with _client(provider) as c:
            r = c.post("/admin/syncs", json={"org_id": org, "mode": mode})
            if r.status_code != 202:
                _fail(r)  # e.g. 404 no credentials for this provider, 409 the other provider's org
            accepted = r.json()
            console.print(f"queued run {accepted['run_id']} ({provider}, {org}, {mode})")
            if not wait or accepted.get("all_orgs"):
                return
            run = _follow(c, accepted["run_id"])
    except httpx.HTTPError as exc:
        _unreachable(provider, exc)
    if run["status"] != "succeeded":
        output.fail(f"run {run['run_id']} failed: {run.get('error')}", 1)
    console.print(f"[green]run {run['run_id']} succeeded: {run.get('counts')}")


def _follow(c: httpx.Client, run_id: str) -> dict[str, Any]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("queued", total=None)
        while True:
            r = c.get(f"/admin/syncs/{run_id}")
            if r.status_code != 200:
                _fail(r)
            run: dict[str, Any] = r.json()
            p = run["progress"]
            label = (
                f"{run['status']} {p.get('phase') or ''} · {p['requests']} req · {p['throttled_429']} 429s"
            )
            bar.update(task, description=label, completed=p["pages"], total=p.get("pages_total"))
            if run["status"] in ("succeeded", "failed"):
                return run
            time.sleep(0.5)


@sync_app.command("status")
def status(
    org: str | None = typer.Option(None, "--org", help="only this organization"),
    limit: int = typer.Option(20, "--limit", min=1, max=200),
) -> None:
    """Recent runs of both connectors."""
    table = Table(
        "provider",
        "run",
        "org",
        "mode",
        "status",
        "attempt",
        "pages",
        "requests",
        "429s",
        "requested",
        "error",
    )
    params: dict[str, Any] = {"limit": limit, **({"org_id": org} if org else {})}
    failed: dict[str, int] = {}  # provider → its exit code
    listed = 0
    for provider in OWNERS:
        runs = _recent_runs(provider, params)
        if isinstance(runs, int):
            failed[provider] = runs
            continue
        listed += len(runs)
        for run in runs:
            p = run["progress"]
            table.add_row(
                provider,
                run["run_id"][:8],
                run["org_id"],
                run["mode"],
                run["status"],
                str(run["attempt"]),
                str(p["pages"]),
                str(p["requests"]),
                str(p["throttled_429"]),
                run["requested_at"][:19],
                escape((run.get("error") or "")[:60]),
            )
    if org and not listed and len(failed) < len(OWNERS):
        fail_unless_known_org(org, 1)
    if len(failed) < len(OWNERS):  # an empty table would read as "no runs"
        console.print(table)
    if failed:
        # The table shows what could be read; the exit code says it is not the whole picture (2 when
        # a connector could not be reached, else 1: one refused).
        raise typer.Exit(max(failed.values()))


def _recent_runs(provider: str, params: dict[str, Any]) -> list[dict[str, Any]] | int:
    """One connector's recent runs, or the exit code after saying on stderr why they could not be
    read (2 unreachable, 1 refused)."""
    owner = OWNERS[provider]
    try:
        with _client(provider) as c:
            r = c.get("/admin/syncs", params=params)
    except httpx.HTTPError as exc:
        output.warn(
            f"cannot reach {owner} at {_base_url(provider)} ({type(exc).__name__}); is it running?"
            f" (set {URL_ENV[provider]} if it runs elsewhere)"
        )
        return 2
    if r.status_code != 200:
        hint = f" ({output.TOKEN_HINT})" if r.status_code == 401 else ""
        output.warn(f"{owner}: GET /admin/syncs → {r.status_code}: {output.service_message(r)}{hint}")
        return 1
    runs: list[dict[str, Any]] = r.json()["runs"]
    return runs
