"""A local 3-master Redis Cluster for tests: free loopback ports, one temp dir per node, stopped by pid.

Three ``redis-server --cluster-enabled yes`` processes of this test run (tests/support/redis_server.py starts
each), joined by ``CLUSTER ADDSLOTSRANGE`` / ``CLUSTER MEET`` instead of ``redis-cli --cluster create`` (so
nothing but ``redis-server`` must be installed); the masters get slots 0–5460, 5461–10922 and 10923–16383::

    cluster = LocalCluster(tmp_dir)
    cluster.start()
    cluster.url            # redis://127.0.0.1:<port of the first master>/0: any node will do
    cluster.restart(1)     # stop and start the second master again (same port, dir and nodes.conf)
    cluster.stop()

:class:`FaultRedis` names where a worker fault test's store lives: the real Redis, or this cluster with arq's
queue on a standalone Redis beside it (fixture ``fault_redis`` in tests/workers/conftest.py).
"""

from __future__ import annotations

import random
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.support.redis_server import RedisServer

MASTERS = 3
SLOTS = 16384
READY_TIMEOUT_S = 30.0
NODE_TIMEOUT_MS = 2000
BUS_OFFSET = 10_000  # a node's cluster bus listens on its port + 10000, so ports above 55535 cannot be used
PORT_RANGE = (20_000, 55_535)


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_port() -> int:
    """A free loopback port whose cluster-bus port (+10000) is free too."""
    while True:
        port = random.randint(*PORT_RANGE)
        if _bindable(port) and _bindable(port + BUS_OFFSET):
            return port


@dataclass
class FaultRedis:
    """Where a fault test's store lives (``url``), and what its worker processes need besides: on a cluster,
    arq's queue on the standalone real Redis (``worker_env``)."""

    url: str
    worker_env: dict[str, str] = field(default_factory=dict)
    arq_url: str | None = None


def slot_ranges(masters: int = MASTERS) -> list[tuple[int, int]]:
    """The contiguous slot range of each master: ``[(0, 5460), (5461, 10922), (10923, 16383)]`` for three."""
    ranges = []
    for i in range(masters):
        start = i * SLOTS // masters
        end = (i + 1) * SLOTS // masters - 1
        ranges.append((start, end))
    return ranges


@dataclass
class LocalCluster:
    """``MASTERS`` cluster-enabled redis-servers in ``directory`` (one sub-directory each), no replicas."""

    directory: Path
    options: tuple[str, ...] = ()  # extra redis-server options of every node, e.g. AOF with fsync always
    nodes: list[RedisServer] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def start(self) -> None:
        for i in range(MASTERS):
            node_dir = self.directory / f"node-{i}"
            node_dir.mkdir(parents=True, exist_ok=True)
            options = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                       "--cluster-node-timeout", str(NODE_TIMEOUT_MS), *self.options)
            node = RedisServer(node_dir, options, port=cluster_port())
            self.nodes.append(node)
            node.start()
        try:
            self._join()
            self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def _join(self) -> None:
        for node, (start, end) in zip(self.nodes, slot_ranges(), strict=True):
            with redis.Redis(port=node.port) as client:
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", start, end)
        with redis.Redis(port=self.nodes[0].port) as first:
            for node in self.nodes[1:]:
                first.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port)

    def wait_ready(self) -> None:
        """Until every node reports ``cluster_state:ok`` and knows all masters."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not all(self._node_ready(node) for node in self.nodes):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the local Redis Cluster did not become ready in time: {self._views()}")
            time.sleep(0.1)

    @staticmethod
    def _node_ready(node: RedisServer) -> bool:
        try:
            with redis.Redis(port=node.port, socket_timeout=1) as client:
                info = client.execute_command("CLUSTER", "INFO")
                text = info.decode() if isinstance(info, bytes) else str(info)
                return "cluster_state:ok" in text and f"cluster_known_nodes:{MASTERS}" in text
        except redis.exceptions.RedisError:
            return False

    def owner_of(self, slot: int) -> int:
        """The index of the master serving ``slot`` (the slot ranges of :func:`slot_ranges`)."""
        return next(i for i, (start, end) in enumerate(slot_ranges(len(self.nodes))) if start <= slot <= end)

    def _views(self) -> list[str]:
        views = []
        for node in self.nodes:
            try:
                with redis.Redis(port=node.port, socket_timeout=1) as client:
                    views.append(str(client.execute_command("CLUSTER", "NODES")))
            except redis.exceptions.RedisError as exc:
                views.append(f"{node.port}: {exc}")
        return views

    def restart(self, index: int) -> None:
        """Stop one master and start it again on the same port and dir (its nodes.conf keeps its slots)."""
        self.nodes[index].restart()
        self.wait_ready()

    def keys_per_master(self, match: str | None = None) -> list[int]:
        """``DBSIZE`` of every master, in slot order; with ``match``, the keys matching that pattern."""
        counts = []
        for node in self.nodes:
            with redis.Redis(port=node.port) as client:
                if match is None:
                    counts.append(int(client.dbsize()))
                else:
                    counts.append(sum(1 for _ in client.scan_iter(match=match, count=1000)))
        return counts

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
