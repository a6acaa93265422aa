"""The commands as a user meets them when something is wrong: services down, a wrong admin token, a
refused request. Errors go to stderr (so `--json` and piped tables stay clean), exit codes are
non-zero, and no traceback or usage text stands in for the reason."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import structlog
from typer.testing import CliRunner, Result

from practice_sync_cli.main import app
from practice_sync_cli.testing_stack import ADMIN_TOKEN, Stack, offline_cliniko_org
from practice_sync_common.embedded.procs import free_port


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("PRACTICE_SYNC_ADMIN_TOKEN", ADMIN_TOKEN)
    monkeypatch.delenv("COLUMNS", raising=False)  # piped output: messages are not wrapped
    with _service_logs_apart():
        yield CliRunner()


@contextmanager
def _service_logs_apart() -> Iterator[None]:
    """The stack's services run in this process, on their own threads, and log to whatever
    `sys.stdout` is when they write. CliRunner swaps `sys.stdout` for the whole process while a
    command runs, so a consumer's log line (say, a dead-lettered webhook of another test's org) could
    land in the command's own output. Here they write to the process's real streams instead, which
    pytest still captures per test."""
    saved_config = structlog.get_config()
    root = logging.getLogger()
    saved_handlers = root.handlers[:]
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.__stdout__))
    root.handlers[:] = [logging.StreamHandler(sys.__stderr__)]
    try:
        yield
    finally:
        structlog.configure(**saved_config)
        root.handlers[:] = saved_handlers


def _clean_failure(out: Result, code: int) -> str:
    """The run failed with `code`, said why on stderr only, and printed nothing else."""
    assert out.exit_code == code, (out.exit_code, out.output)
    assert out.stdout == "", out.stdout
    assert "Traceback" not in out.output and "Usage:" not in out.output, out.output
    return out.stderr


def _registered_org(credentials_url: str) -> str:
    """A new org in the registry with no credentials and no data (as `POST /admin/orgs` makes one)."""
    org = f"bare-{uuid.uuid4().hex[:8]}"
    r = httpx.post(
        f"{credentials_url}/admin/orgs", json={"id": org}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert r.status_code == 201, r.text
    return org


def _json_page_without_rows(stdout: str, org: str) -> None:
    assert json.loads(stdout)["data"] == [], stdout


def _json_credentials_of(stdout: str, org: str) -> None:
    assert all(c["org_id"] == org for c in json.loads(stdout)), stdout


def _table_titled(title: str) -> Callable[[str, str], None]:
    def check(stdout: str, org: str) -> None:
        assert title.format(org=org) in stdout, stdout

    return check


# (arguments, exit code of a refusal of that command, what its empty result for a known org looks like)
_ORG_READS: list[tuple[list[str], int, Callable[[str, str], None]]] = [
    (["contacts", "--json"], 1, _json_page_without_rows),
    (["contacts"], 1, _table_titled("contacts of {org} (0)")),
    (["active-patients", "--json"], 1, _json_page_without_rows),
    (["active-patients"], 1, _table_titled("active patients of {org} (0)")),
    (["credentials", "list", "--json"], 1, _json_credentials_of),
    (["credentials", "list"], 1, _table_titled("{org}")),
    (["sync", "status"], 1, _table_titled("provider")),
]


@pytest.mark.parametrize(("args", "code", "empty"), _ORG_READS, ids=[" ".join(a) for a, _, _ in _ORG_READS])
def test_an_unknown_org_is_an_error_while_a_known_one_without_rows_is_an_empty_result(
    cli: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    stack: Stack,
    credentials_service: str,
    projector_service: str,
    cliniko_sync_service: str,
    clio_gateway_service: str,
    args: list[str],
    code: int,
    empty: Callable[[str, str], None],
) -> None:
    """A mistyped org id must not pass for an org with nothing in it; a real empty org still must."""
    monkeypatch.setenv("CREDENTIALS_URL", credentials_service)
    monkeypatch.setenv("PROJECTOR_URL", projector_service)
    monkeypatch.setenv("CLINIKO_SYNC_URL", cliniko_sync_service)
    monkeypatch.setenv("CLIO_GATEWAY_URL", clio_gateway_service)
    typo = f"typo-{uuid.uuid4().hex[:8]}"
    err = _clean_failure(cli.invoke(app, [*args, "--org", typo]), code)
    assert f"unknown org '{typo}'" in err and "practice-sync credentials list" in err, err

    # Known without credentials (only the registry has it) and known with credentials but no data yet.
    for org in (_registered_org(credentials_service), asyncio.run(offline_cliniko_org(stack))):
        out = cli.invoke(app, [*args, "--org", org])
        assert out.exit_code == 0 and out.stderr == "", (org, out.output)
        empty(out.stdout, org)


def test_an_empty_read_model_with_the_org_registry_down_is_not_passed_off_as_an_empty_org(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, projector_service: str
) -> None:
    """Without the registry an empty result cannot be told from a typo, so it is not shown as one."""
    down = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("PROJECTOR_URL", projector_service)
    monkeypatch.setenv("CREDENTIALS_URL", down)
    org = f"maybe-{uuid.uuid4().hex[:8]}"
    err = _clean_failure(cli.invoke(app, ["contacts", "--org", org, "--json"]), 2)
    assert f"cannot check that org '{org}' exists" in err and down in err and "CREDENTIALS_URL" in err, err


@pytest.mark.parametrize("command", [["contacts"], ["active-patients"]])
def test_read_model_commands_with_the_projector_down(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("PROJECTOR_URL", down)
    err = _clean_failure(cli.invoke(app, [*command, "--org", "demo-clinic", "--json"]), 2)
    assert f"cannot reach the projector at {down}" in err and "PROJECTOR_URL" in err, err


def test_log_lines_of_the_services_in_this_process_stay_out_of_a_commands_output(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A consumer of the stack logs from its own thread while a command runs (`_service_logs_apart`)."""
    down = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("PROJECTOR_URL", down)
    stop = threading.Event()

    def consumer_logging() -> None:
        while not stop.is_set():
            structlog.get_logger("consumer").error("message dead-lettered", topic="webhook.received")
            logging.getLogger("aiokafka").warning("a consumer's warning")
            time.sleep(0.0005)

    chatter = threading.Thread(target=consumer_logging)
    chatter.start()
    try:
        out = cli.invoke(app, ["active-patients", "--org", "demo-clinic", "--json"])
    finally:
        stop.set()
        chatter.join()
    err = _clean_failure(out, 2)
    assert "cannot reach the projector" in err
    assert "dead-lettered" not in out.output and "consumer's warning" not in out.output, out.output


def test_sync_status_with_the_connectors_down_fails(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CLINIKO_SYNC_URL", "CLIO_GATEWAY_URL"):
        monkeypatch.setenv(var, f"http://127.0.0.1:{free_port()}")
    out = cli.invoke(app, ["sync", "status"])
    assert out.exit_code == 2, out.output
    assert "cannot reach cliniko-sync" in out.stderr and "cannot reach clio-gateway" in out.stderr


def test_a_wrong_admin_token_fails_every_command_and_says_where_the_token_comes_from(
    cli: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    credentials_service: str,
    projector_service: str,
    cliniko_sync_service: str,
    clio_gateway_service: str,
) -> None:
    monkeypatch.setenv("PROJECTOR_URL", projector_service)
    monkeypatch.setenv("CLINIKO_SYNC_URL", cliniko_sync_service)
    monkeypatch.setenv("CLIO_GATEWAY_URL", clio_gateway_service)
    monkeypatch.setenv("PRACTICE_SYNC_ADMIN_TOKEN", "not-the-stack-token")
    for args, code in [
        (["contacts", "--org", "demo-law", "--json"], 1),
        (["active-patients", "--org", "demo-clinic", "--json"], 1),
        (["credentials", "list", "--json", "--url", credentials_service], 1),
        (["sync", "request", "--org", "demo-clinic", "--provider", "cliniko"], 1),
    ]:
        err = _clean_failure(cli.invoke(app, args), code)
        assert "401" in err and "PRACTICE_SYNC_ADMIN_TOKEN" in err, (args, err)
    status = cli.invoke(app, ["sync", "status"])
    assert status.exit_code == 1, status.output  # refused, as every other command's 401
    assert "401" in status.stderr and "PRACTICE_SYNC_ADMIN_TOKEN" in status.stderr, status.stderr


def test_json_output_is_only_json_and_a_refusal_only_an_error(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, projector_service: str, credentials_service: str
) -> None:
    monkeypatch.setenv("PROJECTOR_URL", projector_service)
    monkeypatch.setenv("CREDENTIALS_URL", credentials_service)
    ok = cli.invoke(app, ["contacts", "--org", _registered_org(credentials_service), "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["data"] == [] and ok.stderr == ""
    err = _clean_failure(cli.invoke(app, ["contacts", "--org", "bad org!", "--json"]), 1)
    assert "422" in err and "org" in err, err


def test_a_damaged_secrets_file_is_named_and_never_replaced(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """It holds the key ring of every stored credential: regenerating it would lose them all."""
    from practice_sync_cli.state import load_or_create_secrets

    monkeypatch.delenv("PRACTICE_SYNC_ADMIN_TOKEN")
    monkeypatch.setenv("PRACTICE_SYNC_STATE_DIR", str(tmp_path))
    damaged = '{"keyring": "k1:abc", "admin_token": '
    (tmp_path / "secrets.json").write_text(damaged)
    out = cli.invoke(app, ["sync", "status"])
    assert out.exit_code != 0 and "Traceback" not in out.output, out.output
    assert "secrets.json cannot be read" in out.output and "key ring" in out.output, out.output
    with pytest.raises(SystemExit, match=r"secrets\.json cannot be read"):
        load_or_create_secrets(tmp_path)
    assert (tmp_path / "secrets.json").read_text() == damaged
