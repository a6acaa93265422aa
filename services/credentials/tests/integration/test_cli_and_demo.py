"""The CLI and the demo registration against the service running as a real HTTP server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner

from practice_sync_cli.demo import DEMO_CLINIC, DEMO_LAW, register_demo_tenants
from practice_sync_cli.main import app as cli
from practice_sync_common.embedded.procs import free_port
from practice_sync_credentials.main import create_app
from practice_sync_credentials.testing import ADMIN, DEMO_KEY, make_settings, new_org
from practice_sync_sandbox._kit.runner import ServerThread


@pytest.fixture(scope="module")
def served(fresh_database_module: str, clio_sandbox: str) -> Iterator[str]:
    port = free_port()
    settings = make_settings(
        fresh_database_module,
        clio_base_url=clio_sandbox,
        clio_redirect_uri=f"http://127.0.0.1:{port}/oauth/clio/callback",
    )
    with ServerThread(create_app(settings), port=port) as server:
        yield server.url


def test_demo_tenants_register_and_re_register(served: str, cliniko_sandbox: str) -> None:
    register_demo_tenants(ADMIN, served, cliniko_api_url=cliniko_sandbox)
    register_demo_tenants(ADMIN, served, cliniko_api_url=cliniko_sandbox)  # idempotent
    r = httpx.get(f"{served}/admin/credentials", headers={"Authorization": f"Bearer {ADMIN}"})
    found = {(c["org_id"], c["provider"]): c["status"] for c in r.json()["credentials"]}
    assert found == {(DEMO_CLINIC, "cliniko"): "valid", (DEMO_LAW, "clio"): "valid"}


def test_cli_set_and_list(served: str, cliniko_sandbox: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRACTICE_SYNC_ADMIN_TOKEN", ADMIN)
    runner = CliRunner()
    clinic, law = new_org("cli-clinic"), new_org("cli-law")
    out = runner.invoke(
        cli,
        [
            "credentials",
            "set",
            "--org",
            clinic,
            "--provider",
            "cliniko",
            "--api-key",
            DEMO_KEY,
            "--api-url",
            cliniko_sandbox,
            "--url",
            served,
        ],
    )
    assert out.exit_code == 0, out.output
    assert "valid" in out.output
    out = runner.invoke(cli, ["credentials", "set", "--org", law, "--provider", "clio", "--url", served])
    assert out.exit_code == 0, out.output
    assert "connected" in out.output
    out = runner.invoke(
        cli, ["credentials", "set", "--org", law, "--provider", "clio", "--no-follow", "--url", served]
    )
    assert out.exit_code == 0 and "/oauth/authorize?" in out.output
    out = runner.invoke(cli, ["credentials", "list", "--url", served, "--json"])
    assert out.exit_code == 0, out.output
    assert clinic in out.output and law in out.output and DEMO_KEY not in out.output
    bad = runner.invoke(
        cli,
        ["credentials", "set", "--org", clinic, "--provider", "cliniko", "--api-key", "x y", "--url", served],
    )
    assert bad.exit_code == 1 and "whitespace" in bad.output
    unknown = runner.invoke(
        cli, ["credentials", "set", "--org", clinic, "--provider", "xero", "--url", served]
    )
    assert unknown.exit_code == 2 and "unknown provider" in unknown.output
    # The key from the environment, so it stays out of shell history and the process list.
    other = new_org("cli-env")
    args = ["credentials", "set", "--org", other, "--provider", "cliniko", "--api-url", cliniko_sandbox]
    from_env = runner.invoke(cli, [*args, "--url", served], env={"CLINIKO_API_KEY": DEMO_KEY})
    assert from_env.exit_code == 0 and "valid" in from_env.output, from_env.output
    refused = runner.invoke(
        cli, [*args, "--url", served], env={"CLINIKO_API_KEY": "notarealkeyatall0000-au1"}
    )
    assert refused.exit_code == 1 and "not stored" in refused.output
    down = runner.invoke(cli, ["credentials", "list", "--url", f"http://127.0.0.1:{free_port()}"])
    assert down.exit_code == 2 and "cannot reach" in down.output
