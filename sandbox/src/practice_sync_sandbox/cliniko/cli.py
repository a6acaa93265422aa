"""`practice-sync sandbox cliniko`: run the Cliniko sandbox in the foreground."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from .._kit.runner import port_is_free, serve_forever
from .config import DEMO_API_KEY, ClinikoSandboxConfig


def run(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8102,
    host: Annotated[str, typer.Option(help="Interface to bind (loopback by default).")] = "127.0.0.1",
    seed: Annotated[int, typer.Option(help="Data seed: the same seed gives the same records.")] = 1,
    api_key: Annotated[
        list[str] | None,
        typer.Option(
            "--api-key",
            help="An account's API key, e.g. MS0xMjM0-au1, optionally KEY=patients:appointments. "
            f"Repeatable. Default: {DEMO_API_KEY}.",
        ),
    ] = None,
    patients: Annotated[
        int, typer.Option(help="Patients per account (unless KEY=p:a says otherwise).")
    ] = 2000,
    appointments: Annotated[int, typer.Option(help="Individual appointments per account.")] = 10000,
    rate_limit: Annotated[int, typer.Option(help="Requests per window per API key.")] = 200,
    window: Annotated[float, typer.Option(help="Rate-limit window in seconds.")] = 60.0,
    now: Annotated[
        str | None, typer.Option(help="Pin the data's 'now' (ISO-8601, UTC). Default: today 00:00 UTC.")
    ] = None,
    frozen: Annotated[
        bool, typer.Option(help="Keep the sandbox clock still (move it via /_sandbox/clock).")
    ] = False,
    retry_after: Annotated[
        bool, typer.Option(help="Also send Retry-After on 429 (Cliniko documents only X-RateLimit-Reset).")
    ] = False,
    user_agent_status: Annotated[int, typer.Option(help="Status for a missing/malformed User-Agent.")] = 403,
    empty_dates_as_blank: Annotated[
        bool, typer.Option(help='Render empty dates as "" (legacy) instead of null.')
    ] = False,
    control_token: Annotated[str | None, typer.Option(help="Require this Bearer token on /_sandbox.")] = None,
) -> None:
    """Serve a fake Cliniko API (/v1) and its control API (/_sandbox) on loopback."""
    config = ClinikoSandboxConfig(
        seed=seed,
        api_keys=list(api_key or []),
        patients=patients,
        appointments=appointments,
        rate_limit=rate_limit,
        window_s=window,
        now=datetime.fromisoformat(now.replace("Z", "+00:00")) if now else None,
        frozen=frozen,
        retry_after_header=retry_after,
        user_agent_status=user_agent_status,
        empty_dates_as_blank=empty_dates_as_blank,
        control_token=control_token,
    )
    try:
        specs = config.accounts()
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e
    if not port_is_free(host, port):
        # say so before spending seconds building a large account
        raise SystemExit(f"port {host}:{port} is already in use; stop what holds it or pass --port")
    from .app import create_app

    typer.echo(f"cliniko sandbox: building {len(specs)} account(s) (seed {seed}) ...")
    app = create_app(config)
    for spec in specs:
        typer.echo(f"  {spec.key}: {spec.patients} patients, {spec.appointments} appointments")
    typer.echo(f"cliniko sandbox on http://{host}:{port}/v1 (control: http://{host}:{port}/_sandbox/health)")
    serve_forever(app, host, port)


if __name__ == "__main__":
    typer.run(run)
