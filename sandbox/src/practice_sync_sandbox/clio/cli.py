"""`practice-sync sandbox clio`: run the Clio sandbox in the foreground."""

from __future__ import annotations

from typing import Annotated

import typer

from practice_sync_sandbox._kit.runner import serve_forever
from practice_sync_sandbox.clio.config import AccountSpec, ClioSandboxConfig


def parse_account(raw: str, default_contacts: int) -> AccountSpec:
    """`slug[:user_id[:contacts]]`, e.g. `demo-law:1001:5000`."""
    parts = raw.split(":")
    if not parts[0] or len(parts) > 3:
        raise typer.BadParameter(f"account must be slug[:user_id[:contacts]], got {raw!r}")
    try:
        user_id = int(parts[1]) if len(parts) > 1 and parts[1] else None
        contacts = int(parts[2]) if len(parts) > 2 and parts[2] else default_contacts
    except ValueError:
        raise typer.BadParameter(f"user_id and contacts must be integers in {raw!r}") from None
    slug = parts[0]
    if slug == AccountSpec().slug:  # the demo tenant keeps its documented user
        return AccountSpec(contacts=contacts, user_id=user_id or AccountSpec().user_id)
    return AccountSpec(
        slug=slug,
        user_id=user_id or 0,
        contacts=contacts,
        first_name=slug.split("-")[0].title(),
        last_name="User",
        email=f"user@{slug}.example",
    )


def build_config(
    seed: int,
    contacts: int,
    rate_limit: int,
    token_ttl: int,
    allow_http_webhooks: bool,
    account: list[str] | None,
    auto_enable_webhooks: bool = False,
) -> ClioSandboxConfig:
    specs = [parse_account(a, contacts) for a in account or []]
    next_id = 1001
    fixed: list[AccountSpec] = []
    for spec in specs:
        if spec.user_id == 0:
            while any(s.user_id == next_id for s in specs):
                next_id += 1
            spec = AccountSpec(spec.slug, next_id, spec.contacts, spec.first_name, spec.last_name, spec.email)
            next_id += 1
        fixed.append(spec)
    return ClioSandboxConfig(
        seed=seed,
        accounts=fixed or [AccountSpec(contacts=contacts)],
        rate_limit=rate_limit,
        token_ttl_s=token_ttl,
        allow_http_loopback_webhooks=allow_http_webhooks,
        webhook_auto_enable=auto_enable_webhooks,
    )


def run(
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8101,
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    seed: Annotated[int, typer.Option(help="Data seed: same seed, same data")] = 1,
    contacts: Annotated[int, typer.Option(help="Contacts per account (unless the account says)")] = 250,
    rate_limit: Annotated[int, typer.Option(help="Requests per access token per 60 s")] = 50,
    token_ttl: Annotated[int, typer.Option(help="Access token lifetime in seconds")] = 2_592_000,
    allow_http_webhooks: Annotated[
        bool, typer.Option(help="Accept http:// webhook URLs on loopback hosts (real Clio: https only)")
    ] = False,
    auto_enable_webhooks: Annotated[
        bool, typer.Option(help="Enable webhooks without a handshake (as observed on live Clio)")
    ] = False,
    account: Annotated[
        list[str] | None,
        typer.Option(help="Account as slug[:user_id[:contacts]]; repeat for more (default demo-law:1001)"),
    ] = None,
) -> None:
    """Run the Clio Manage API v4 sandbox (OAuth client sandbox-clio-client / sandbox-clio-secret)."""
    from practice_sync_sandbox.clio.app import create_app

    config = build_config(
        seed, contacts, rate_limit, token_ttl, allow_http_webhooks, account, auto_enable_webhooks
    )
    users = ", ".join(f"{a.slug} (user {a.user_id}, {a.contacts} contacts)" for a in config.accounts)
    typer.echo(f"Clio sandbox on http://{host}:{port}  accounts: {users}")
    serve_forever(create_app(config), host, port)


if __name__ == "__main__":
    typer.run(run)
