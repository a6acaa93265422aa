"""No Docker engine runs here, so the compose file is checked against the code it deploys."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from practice_sync_common.ports import SERVICE_PORTS
from practice_sync_common.topics import TOPICS

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]


def _settings_class(service: str) -> type[BaseSettings]:
    module = importlib.import_module(f"practice_sync_{service.replace('-', '_')}.settings")
    cls: type[BaseSettings] = module.Settings
    return cls


def _env_names(cls: type[BaseSettings]) -> tuple[set[str], set[str]]:
    """(all env names the settings read, the ones without a default)."""
    names, required = set(), set()
    for name, field in cls.model_fields.items():
        env = (field.alias or name).upper()
        names.add(env)
        if field.is_required():
            required.add(env)
    return names, required


@pytest.mark.parametrize("service", list(SERVICE_PORTS))
def test_every_service_is_deployed_from_deploy_dir(service: str) -> None:
    spec = SERVICES[service]
    dockerfile = ROOT / spec["build"]["dockerfile"]
    assert dockerfile.exists() and dockerfile.parent.name == "deploy"
    module = f"practice_sync_{spec['build']['args']['SERVICE']}"
    importlib.import_module(f"{module}.main")  # the image runs `python -m` this package
    assert (ROOT / "services" / service / "src" / module / "__main__.py").exists()


@pytest.mark.parametrize("service", list(SERVICE_PORTS))
def test_env_matches_the_settings(service: str) -> None:
    env = SERVICES[service]["environment"]
    names, required = _env_names(_settings_class(service))
    missing = required - set(env)
    assert not missing, f"{service} requires {missing} but compose does not set it"
    unknown = {k for k in env if k not in names}
    assert not unknown, f"{service} is given {unknown}, which its settings never read"
    assert env["KAFKA_ENABLE_IDEMPOTENCE"] == "true"  # real Kafka supports idempotent producers


@pytest.mark.parametrize("service", list(SERVICE_PORTS))
def test_ports_and_health_are_consistent(service: str) -> None:
    spec = SERVICES[service]
    port = SERVICE_PORTS[service]
    assert spec["environment"]["HTTP_PORT"] == str(port)
    assert spec["ports"] == [f"{port}:{port}"]
    assert f"127.0.0.1:{port}/readyz" in " ".join(spec["healthcheck"]["test"])
    assert spec["restart"] == "unless-stopped"


def test_infrastructure_uses_official_images_with_health_checks() -> None:
    assert SERVICES["postgres"]["image"].startswith("postgres:")
    assert SERVICES["kafka"]["image"].startswith("apache/kafka:")
    assert SERVICES["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    for name in ("postgres", "kafka"):
        assert SERVICES[name]["healthcheck"]["test"]


def test_service_database_and_broker_point_at_compose_hosts() -> None:
    for service in SERVICE_PORTS:
        env = SERVICES[service]["environment"]
        assert re.search(r"@postgres:5432/", env["DATABASE_URL"])
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"


def test_topics_are_the_fixed_points() -> None:
    assert TOPICS == ("sync.requested", "webhook.received", "contact.synced", "active_patients.computed")
