"""The worker's monitoring endpoint: /metrics in the Prometheus text format, /healthz by the age of the last good
flush, its configuration, and its start and stop with the worker's hooks."""

from __future__ import annotations

import asyncio
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import fakeredis
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from hotstore.core import settings as names
from hotstore.core.errors import InvalidInput
from hotstore.core.settings import Settings
from hotstore.writebehind import telemetry
from tests.support.servers import REDIS_ENV, real_server_url
from workers.jobs import SETTINGS, shutdown, startup
from workers.monitoring import METRICS_PORT, MonitorConfig, MonitoringServer, health, monitor_config


def get(url: str) -> tuple[int, str]:
    """(status, body) of a GET, whatever the status."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(namespace: str) -> Iterator[MonitoringServer]:
    """An endpoint on a free loopback port, over a private registry and an embedded fakeredis."""
    settings = Settings(namespace=namespace)
    config = MonitorConfig(port=0, host="127.0.0.1", max_age_s=30.0)
    monitor = MonitoringServer(settings, config, registry=CollectorRegistry(),
                               redis_client=fakeredis.FakeRedis(server=fakeredis.FakeServer())).start()
    yield monitor
    monitor.stop()


# ---------------------------------------------------------------- health


def test_a_worker_that_flushed_recently_is_healthy() -> None:
    healthy, body = health(now=1_000.0, last_success=990.0, started=0.0, max_age_s=60)
    assert healthy
    assert body == {"status": "ok", "last_flush_age_s": 10.0, "max_age_s": 60}


def test_a_worker_whose_last_flush_is_older_than_the_bound_is_unhealthy() -> None:
    healthy, body = health(now=1_000.0, last_success=900.0, started=0.0, max_age_s=60)
    assert not healthy
    assert body["status"] == "stale"


def test_a_new_worker_is_healthy_until_the_bound_has_passed_since_its_start() -> None:
    assert health(now=1_030.0, last_success=None, started=1_000.0, max_age_s=60)[0]
    assert not health(now=1_070.0, last_success=None, started=1_000.0, max_age_s=60)[0]


def test_a_flush_from_before_the_start_does_not_cut_the_grace() -> None:
    assert health(now=1_030.0, last_success=500.0, started=1_000.0, max_age_s=60)[0]


# ---------------------------------------------------------------- configuration


def test_no_port_means_no_endpoint() -> None:
    assert monitor_config(None, env={}) is None


def test_the_port_comes_from_the_flag_before_the_environment() -> None:
    config = monitor_config(9100, env={names.ENV_METRICS_PORT: "9200", names.ENV_HEALTH_MAX_AGE: "15"})
    assert config == MonitorConfig(port=9100, host=names.DEFAULT_METRICS_HOST, max_age_s=15.0)


def test_the_environment_sets_port_host_and_bound() -> None:
    env = {names.ENV_METRICS_PORT: "9464", names.ENV_METRICS_HOST: "127.0.0.1"}
    assert monitor_config(None, env=env) == MonitorConfig(port=9464, host="127.0.0.1", max_age_s=60.0)


@pytest.mark.parametrize("env", [{names.ENV_METRICS_PORT: "http"}, {names.ENV_METRICS_PORT: "70000"},
                                 {names.ENV_METRICS_PORT: "9464", names.ENV_HEALTH_MAX_AGE: "-1"}])
def test_a_bad_port_or_bound_is_refused(env: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        monitor_config(None, env=env)


# ---------------------------------------------------------------- the endpoint


def test_metrics_serves_the_text_format_with_the_backlog(server: MonitoringServer) -> None:
    status, body = get(f"http://127.0.0.1:{server.port}/metrics")

    families = {family.name for family in text_string_to_metric_families(body)}
    assert status == 200
    assert {"hotstore_dirty_entities", "hotstore_dirty_oldest_age_seconds", "hotstore_redis_up"} <= families


def test_healthz_answers_200_after_a_recent_flush(server: MonitoringServer) -> None:
    telemetry.flush_succeeded()

    status, body = get(f"http://127.0.0.1:{server.port}/healthz")

    assert status == 200
    assert '"status": "ok"' in body


def test_healthz_answers_503_when_the_last_flush_is_too_old(server: MonitoringServer) -> None:
    server.started = time.time() - 7200
    telemetry.flush_succeeded(now=time.time() - 3600)

    status, body = get(f"http://127.0.0.1:{server.port}/healthz")

    assert status == 503
    assert '"status": "stale"' in body


def test_other_paths_are_not_found(server: MonitoringServer) -> None:
    assert get(f"http://127.0.0.1:{server.port}/")[0] == 404


def test_stopping_unregisters_the_collector_so_a_new_endpoint_can_start(namespace: str) -> None:
    registry = CollectorRegistry()
    config = MonitorConfig(port=0, host="127.0.0.1")
    for _ in range(2):  # the second start would find duplicated names if the first had not unregistered
        monitor = MonitoringServer(Settings(namespace=namespace), config, registry=registry,
                                   redis_client=fakeredis.FakeRedis(server=fakeredis.FakeServer())).start()
        monitor.stop()
    assert registry.get_sample_value("hotstore_redis_up") is None


def test_a_port_in_use_fails_the_start_and_leaves_the_registry_clean(server: MonitoringServer,
                                                                     namespace: str) -> None:
    registry = CollectorRegistry()
    clash = MonitoringServer(Settings(namespace=namespace), MonitorConfig(port=server.port, host="127.0.0.1"),
                             registry=registry, redis_client=fakeredis.FakeRedis(server=fakeredis.FakeServer()))
    with pytest.raises(OSError):
        clash.start()
    clash.stop()
    assert registry.get_sample_value("hotstore_redis_up") is None


# ---------------------------------------------------------------- the worker's hooks


@pytest.mark.redis
async def test_a_worker_with_a_metrics_port_serves_until_it_shuts_down(
    namespace: str, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(names.ENV_METRICS_HOST, "127.0.0.1")
    settings = Settings(redis_url=real_server_url(REDIS_ENV, "Redis"), namespace=namespace,
                        database_url=f"sqlite+aiosqlite:///{tmp_path}/w.db")
    port = free_port()
    ctx = {SETTINGS: settings, METRICS_PORT: port}

    await startup(ctx)
    try:
        status, _ = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/healthz")
        metrics_status, body = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/metrics")
    finally:
        await shutdown(ctx)

    assert (status, metrics_status) == (200, 200)
    assert "hotstore_flush_rows_total" in body
    with pytest.raises(urllib.error.URLError):  # stopped with the worker
        await asyncio.to_thread(get, f"http://127.0.0.1:{port}/healthz")


def test_the_endpoint_needs_a_redis_url(namespace: str) -> None:
    with pytest.raises(InvalidInput, match="REDIS_URL"):
        MonitoringServer(Settings(namespace=namespace), MonitorConfig(port=0, host="127.0.0.1"))
