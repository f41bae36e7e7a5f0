"""A fresh cluster per test: three nodes on a new PostgreSQL database and a new Redis."""

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cluster.support import Cluster
from tests.pg import PostgresServer
from tests.redis import RedisServer


@pytest.fixture
def cluster_env() -> dict[str, str]:
    """Override in a test module to change the nodes' settings."""
    return {}


@pytest.fixture
async def cluster(pg_server: PostgresServer, pg_template: str, tmp_path: Path,
                  cluster_env: dict[str, str]) -> AsyncIterator[Cluster]:
    name = f"c{uuid.uuid4().hex[:8]}"
    pg_server.sql(f"CREATE DATABASE {name} TEMPLATE {pg_template}")
    redis = RedisServer().start()
    running = Cluster(database_url=pg_server.url(name), redis=redis, tmp_path=tmp_path,
                      env=cluster_env)
    try:
        yield await running.start()
    finally:
        await running.stop()
        redis.stop()
        _print_node_logs(tmp_path)


def _print_node_logs(tmp_path: Path, lines: int = 60) -> None:
    """The end of every node's log, on standard output: pytest shows it only when the test
    failed (a hang included), and the logs go with the temporary folder."""
    for log in sorted(tmp_path.glob("node*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        print(f"--- the last {len(tail)} lines of {log.name} ---", *tail, sep="\n")

