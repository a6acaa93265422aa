"""The `practice-sync` command line."""

from __future__ import annotations

import typer

from practice_sync_cli import projector_cmd
from practice_sync_cli.credentials_cmd import credentials_app
from practice_sync_cli.sync_cmd import sync_app

app = typer.Typer(
    help="practice-sync: Clio and Cliniko into your Postgres, per tenant.", no_args_is_help=True
)
sandbox_app = typer.Typer(help="Run a provider sandbox (a faithful local simulator).", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(credentials_app, name="credentials")
app.command("active-patients")(projector_cmd.active_patients)
app.command("contacts")(projector_cmd.contacts)
app.add_typer(sync_app, name="sync")


@app.command()
def up(
    exit_when_ready: bool = typer.Option(
        False, help="Stop everything once all components are ready (a smoke test of the stack)."
    ),
) -> None:
    """Run the whole platform in the foreground: Postgres, broker, sandboxes, every service."""
    from practice_sync_cli.demo import set_up_demo
    from practice_sync_cli.state import load_or_create_secrets
    from practice_sync_cli.up import run_up

    token = load_or_create_secrets().admin_token

    def demo() -> None:
        set_up_demo(token)

    raise typer.Exit(run_up(on_all_ready=demo, exit_when_ready=exit_when_ready))


def _mount_sandboxes() -> None:
    # Imported lazily so `practice-sync --help` stays fast.
    from practice_sync_sandbox.cliniko.cli import run as cliniko_run
    from practice_sync_sandbox.clio.cli import run as clio_run

    sandbox_app.command("clio", help="The Clio Manage v4 sandbox (default port 8101).")(clio_run)
    sandbox_app.command("cliniko", help="The Cliniko sandbox (default port 8102).")(cliniko_run)


_mount_sandboxes()
