"""The CLI commands against the running projector."""

from __future__ import annotations

import json
import uuid

import pytest
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from practice_sync_cli.main import app
from practice_sync_cli.testing_stack import ADMIN_TOKEN, Stack
from practice_sync_projector.testing import complete, patient, send, wait_run

EMAIL = "grace.brewster.murray.hopper@navy.example.mil"


async def test_active_patients_and_contacts_commands(
    projector_service: str,
    producer: KafkaBroker,
    db: AsyncEngine,
    stack: Stack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    org = f"org-{uuid.uuid4().hex[:10]}"
    run = uuid.uuid4()
    await send(producer, org, patient(run, "42", "Grace", "Hopper", EMAIL, total=3), complete(run, 1))
    await wait_run(db, org, run)
    monkeypatch.setenv("PROJECTOR_URL", projector_service)
    # Output that is not a terminal (CliRunner's, like a pipe's) keeps every cell whole.
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setenv("PRACTICE_SYNC_ADMIN_TOKEN", ADMIN_TOKEN)
    runner = CliRunner()
    out = runner.invoke(app, ["active-patients", "--org", org, "--json"])
    assert out.exit_code == 0, out.output
    body = json.loads(out.output)
    assert [(p["cliniko_patient_id"], p["total_appointment_count"]) for p in body["data"]] == [("42", 3)]
    out = runner.invoke(app, ["active-patients", "--org", org])
    assert out.exit_code == 0 and "Grace Hopper" in out.output and EMAIL in out.output
    out = runner.invoke(app, ["contacts", "--org", org])
    assert out.exit_code == 0 and "Grace Hopper" in out.output and "cliniko" in out.output
    out = runner.invoke(app, ["active-patients", "--org", org, "--sort", "bogus"])
    assert out.exit_code == 1 and "sort" in out.output
