"""docker-compose.yml describes a production-like deployment: durable Redis and PostgreSQL, migrations first, workers
with health checks. Checked structurally (no Docker needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hotstore.cli.main import build_parser

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
LONG_RUNNING = ("redis", "postgres", "worker")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


def _volume_targets(service: dict[str, Any]) -> dict[str, str]:
    """``{container path: volume name}`` of a service's short-syntax volumes."""
    targets = {}
    for entry in service.get("volumes", []):
        source, target = entry.split(":")[:2]
        targets[target] = source
    return targets


def test_redis_persists_with_aof_fsync_every_second(services: dict[str, Any]) -> None:
    command = services["redis"]["command"]
    assert command[0] == "redis-server"
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == "everysec"


def test_redis_and_postgres_keep_their_data_on_named_volumes(compose: dict[str, Any], services: dict[str, Any]) -> None:
    redis_volume = _volume_targets(services["redis"])["/data"]
    postgres_volume = _volume_targets(services["postgres"])["/var/lib/postgresql/data"]
    assert {redis_volume, postgres_volume} <= set(compose["volumes"])


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_every_long_running_service_has_a_health_check(services: dict[str, Any], name: str) -> None:
    check = services[name]["healthcheck"]
    assert check["test"][0] in ("CMD", "CMD-SHELL")
    assert services[name]["restart"] == "unless-stopped"


def test_health_checks_use_each_servers_own_probe(services: dict[str, Any]) -> None:
    assert services["redis"]["healthcheck"]["test"][1:] == ["redis-cli", "ping"]
    assert services["postgres"]["healthcheck"]["test"][1].startswith("pg_isready")


def test_worker_health_check_is_a_valid_hotstore_status_check(services: dict[str, Any]) -> None:
    test = services["worker"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "hotstore"]
    args = build_parser().parse_args(test[2:])
    assert (args.command, args.check) == ("status", True)


def test_migration_is_a_one_shot_db_upgrade_after_postgres_is_healthy(services: dict[str, Any]) -> None:
    migrate = services["migrate"]
    args = build_parser().parse_args(migrate["command"])
    assert (args.command, args.db_command) == ("db", "upgrade")
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_workers_run_two_replicas_of_hotstore_worker(services: dict[str, Any]) -> None:
    worker = services["worker"]
    assert build_parser().parse_args(worker["command"]).command == "worker"
    assert worker["deploy"]["replicas"] == 2


def test_workers_start_after_healthy_servers_and_completed_migration(services: dict[str, Any]) -> None:
    conditions = {name: dep["condition"] for name, dep in services["worker"]["depends_on"].items()}
    assert conditions == {
        "redis": "service_healthy",
        "postgres": "service_healthy",
        "migrate": "service_completed_successfully",
    }


@pytest.mark.parametrize("name", ["migrate", "worker"])
def test_hotstore_services_are_wired_to_the_compose_servers(services: dict[str, Any], name: str) -> None:
    environment = services[name]["environment"]
    assert environment["REDIS_URL"] == "redis://redis:6379/0"
    assert environment["DATABASE_URL"].startswith("postgresql://")
    assert environment["DATABASE_URL"].endswith("@postgres:5432/hotstore")


@pytest.mark.parametrize("name", ["migrate", "worker"])
def test_hotstore_services_build_the_dockerfile_in_this_repository(services: dict[str, Any], name: str) -> None:
    context = ROOT / services[name]["build"]["context"]
    assert (context / "Dockerfile").is_file()


def test_dockerfile_installs_the_package_and_runs_the_cli() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("hotstore", "persistence", "workers"):
        assert f"COPY {package} ./{package}" in dockerfile
    assert 'ENTRYPOINT ["hotstore"]' in dockerfile


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "*.db", ".env"} <= ignored


def test_workers_serve_metrics_on_an_exposed_port(services: dict[str, Any]) -> None:
    worker = services["worker"]
    port = worker["environment"]["HOTSTORE_METRICS_PORT"]
    assert port.isdigit()
    assert port in [str(exposed) for exposed in worker["expose"]]


def test_workers_keep_the_shared_environment_next_to_the_metrics_port(services: dict[str, Any]) -> None:
    assert {"DATABASE_URL", "REDIS_URL", "HOTSTORE_NAMESPACE"} <= set(services["worker"]["environment"])


def test_the_worker_command_accepts_a_metrics_port() -> None:
    args = build_parser().parse_args(["worker", "--metrics-port", "9464"])
    assert args.metrics_port == 9464
