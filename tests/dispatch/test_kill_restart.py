"""A server killed with SIGKILL loses no deadline: the restarted one expires the offer."""

import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import TEST_SECRET
from tests.server import ServerProcess


def call(server: ServerProcess, method: str, path: str, token: str | None = None,
         **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return httpx.request(method, server.url + path, headers=headers, timeout=10, **kwargs)


def register(server: ServerProcess, email: str, role: str) -> str:
    body = {"email": email, "password": "correct horse battery", "name": email, "role": role}
    response = call(server, "POST", "/api/auth/register", json=body)
    assert response.status_code == 201, response.text
    return response.json()["token"]


def test_an_offer_outlives_a_sigkilled_server(database_url: str, tmp_path: Path) -> None:
    env = {"DISPATCHWIRE_JWT_SECRET": TEST_SECRET, "DISPATCHWIRE_ASSIGNMENT_TIMEOUT_S": "2"}
    server = ServerProcess(database_url=database_url, env=env, log_path=tmp_path / "log")
    with server:
        first, second = (register(server, f"m{i}@example.com", "master") for i in (1, 2))
        client = register(server, "c@example.com", "client")
        call(server, "POST", "/api/masters/me/shift/start", first)
        order = call(server, "POST", "/api/orders", client, json={
            "applianceType": "oven", "problem": "no heat", "address": "1 Main St"}).json()
        [offer] = call(server, "GET", "/api/assignments/pending", first).json()
        server.kill()

    with ServerProcess(database_url=database_url, env=env, port=server.port,
                       log_path=tmp_path / "log"):
        call(server, "POST", "/api/masters/me/shift/start", second)
        deadline = time.monotonic() + 6
        while not (moved := call(server, "GET", "/api/assignments/pending", second).json()):
            assert time.monotonic() < deadline, "the offer never expired after the restart"
            time.sleep(0.05)
        assert moved[0]["orderId"] == order["id"]
        refused = call(server, "POST", f"/api/assignments/{offer['id']}/accept", first)
        assert refused.status_code == 409
        assert "expired" in refused.json()["detail"]
