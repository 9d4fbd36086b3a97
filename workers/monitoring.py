"""The worker's monitoring endpoint: ``/metrics`` (Prometheus text format) and ``/healthz``, on a port of its own.

Switched on by ``hotstore worker --metrics-port N`` or ``HOTSTORE_METRICS_PORT`` (``HOTSTORE_METRICS_HOST``: the
address, default every interface). The server runs in a thread of the worker process (a standard-library WSGI
server), so a scrape never waits for the worker's event loop nor the event loop for a scrape.

- ``/metrics``: ``prometheus_client``'s default registry (the write-behind instruments of
  :mod:`hotstore.writebehind.telemetry`, the process collectors) plus a
  :class:`~hotstore.writebehind.collector.RedisStateCollector` that reads the backlog and Redis memory at scrape
  time through a synchronous client of its own.
- ``/healthz``: 200 while this worker flushes, 503 once its last successful flush (or, before the first, its
  start) is older than ``HOTSTORE_HEALTH_MAX_AGE`` seconds (default 60). The body is a line of JSON.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import redis
from prometheus_client import REGISTRY, CollectorRegistry, disable_created_metrics, make_wsgi_app

from hotstore.core import settings as names
from hotstore.core.errors import InvalidInput
from hotstore.core.settings import Settings
from hotstore.writebehind import telemetry
from hotstore.writebehind.collector import RedisStateCollector

log = logging.getLogger("workers")

METRICS_PORT = "hotstore_metrics_port"  # ctx key: the port of `hotstore worker --metrics-port`
SCRAPE_REDIS_TIMEOUT_S = 2.0

StartResponse = Callable[..., Any]


def health(*, now: float, last_success: float | None, started: float, max_age_s: float) -> tuple[bool, dict[str, Any]]:
    """Whether a worker is healthy, and the ``/healthz`` body: its last good flush, or its start (a new worker's
    grace), within the bound."""
    age = now - (started if last_success is None else max(last_success, started))
    healthy = age <= max_age_s
    body = {
        "status": "ok" if healthy else "stale",
        "last_flush_age_s": None if last_success is None else round(now - last_success, 3),
        "max_age_s": max_age_s,
    }
    return healthy, body


@dataclass(frozen=True)
class MonitorConfig:
    port: int
    host: str = names.DEFAULT_METRICS_HOST
    max_age_s: float = names.DEFAULT_HEALTH_MAX_AGE_S


def monitor_config(port: int | None, env: Mapping[str, str] | None = None) -> MonitorConfig | None:
    """The endpoint's configuration: ``port`` (the CLI flag) or ``HOTSTORE_METRICS_PORT``; ``None``: no endpoint."""
    env = os.environ if env is None else env
    raw_port = str(port) if port is not None else env.get(names.ENV_METRICS_PORT, "").strip()
    if not raw_port:
        return None
    raw_age = env.get(names.ENV_HEALTH_MAX_AGE, "").strip() or str(names.DEFAULT_HEALTH_MAX_AGE_S)
    try:
        number, max_age = int(raw_port), float(raw_age)
    except ValueError as exc:
        raise InvalidInput(
            f"{names.ENV_METRICS_PORT} must be a port and {names.ENV_HEALTH_MAX_AGE} seconds: {exc}"
        ) from exc
    if not 1 <= number <= 65535 or max_age <= 0:
        raise InvalidInput(f"metrics port must be 1..65535 ({number}) and health max age positive ({max_age})")
    host = env.get(names.ENV_METRICS_HOST, "").strip() or names.DEFAULT_METRICS_HOST
    return MonitorConfig(number, host, max_age)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds are not worth a log line each."""


class MonitoringServer:
    """``/metrics`` and ``/healthz`` of one worker process; :meth:`start` it, :meth:`stop` it at shut-down."""

    def __init__(self, settings: Settings, config: MonitorConfig, *, registry: CollectorRegistry = REGISTRY,
                 redis_client: redis.Redis | None = None) -> None:
        self.settings = settings
        self.config = config
        self.registry = registry
        if redis_client is None and not settings.redis_url:
            raise InvalidInput("the metrics endpoint reads the backlog from REDIS_URL, which is not set")
        self.client = redis_client or redis.Redis.from_url(
            settings.redis_url or "", socket_timeout=SCRAPE_REDIS_TIMEOUT_S,
            socket_connect_timeout=SCRAPE_REDIS_TIMEOUT_S,
        )
        self.collector = RedisStateCollector(self.client, settings.keys)
        self.started = time.time()
        self._metrics_app = make_wsgi_app(registry)
        self._server: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port it listens on (the one chosen by the system when configured as 0)."""
        return self._server.server_port if self._server is not None else self.config.port

    def start(self) -> MonitoringServer:
        # no `_created` twin of every series: half the series, nothing lost for alerts
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry.register(self.collector)
        try:
            self._server = make_server(self.config.host, self.config.port, self._app,
                                       server_class=_ThreadingServer, handler_class=_QuietHandler)
        except OSError:
            self.registry.unregister(self.collector)
            raise
        self._thread = threading.Thread(target=self._server.serve_forever, name="hotstore-metrics", daemon=True)
        self._thread.start()
        log.info("metrics on http://%s:%d/metrics, health on /healthz", self.config.host, self.port)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            self.registry.unregister(self.collector)
        self.client.close()

    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/healthz":
            healthy, body = health(now=time.time(), last_success=telemetry.last_success(), started=self.started,
                                   max_age_s=self.config.max_age_s)
            status = "200 OK" if healthy else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json")])
            return [json.dumps(body).encode() + b"\n"]
        if path == "/metrics":
            result: Iterable[bytes] = self._metrics_app(environ, start_response)
            return result
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"hotstore worker: /metrics or /healthz\n"]


def start_monitoring(settings: Settings, port: int | None) -> MonitoringServer | None:
    """Start the endpoint when configured (``port`` or ``HOTSTORE_METRICS_PORT``); ``None`` when not."""
    config = monitor_config(port)
    return MonitoringServer(settings, config).start() if config is not None else None


def stop_monitoring(server: MonitoringServer | None) -> None:
    if server is not None:
        server.stop()
