"""Fixtures for the client SDK's tests: real `dispatchwire serve` processes, killed at the end
of each test whatever happens, and users registered on them over HTTP."""

import asyncio
import itertools
import os
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_SECRET
from tests.server import ServerProcess

PASSWORD = "correct horse battery"
FAST_SERVER = {"DISPATCHWIRE_JWT_SECRET": TEST_SECRET, "DISPATCHWIRE_ARGON2_TIME_COST": "1",
               "DISPATCHWIRE_ARGON2_MEMORY_KIB": "1024", "DISPATCHWIRE_LOG_LEVEL": "warning"}
_seq = itertools.count(1)


@dataclass
class Server:
    """A server process that a test can kill and start again on the same port and database."""

    database_url: str
    log_path: Path
    env: dict[str, str]
    args: tuple[str, ...] = ()
    port: int | None = None
    process: ServerProcess | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Server":
        self.process = ServerProcess(database_url=self.database_url, env=self.env,
                                     args=self.args, port=self.port, log_path=self.log_path)
        self.process.start()
        self.port = self.process.port
        return self

    async def restart(self) -> None:
        """Start again on the same port; in a thread, so that clients keep running."""
        await asyncio.to_thread(self.start)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server with the demo accounts for the tests that never stop it (each test keeps
    to users and appliance types of its own)."""
    folder = tmp_path_factory.mktemp("shared")
    server = Server(f"sqlite+aiosqlite:///{folder / 'dw.db'}", folder / "server.log",
                    FAST_SERVER, ("--demo",))
    try:
        yield server.start()
    finally:
        server.kill()


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Any]:
    """`make_server(**env)` starts a server; every one is killed when the test ends."""
    servers: list[Server] = []

    def make(*args: str, **env: str) -> Server:
        server = Server(f"sqlite+aiosqlite:///{tmp_path / f'dw{len(servers)}.db'}",
                        tmp_path / f"server{len(servers)}.log", {**FAST_SERVER, **env}, args)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.kill()


@dataclass
class Account:
    email: str
    password: str
    token: str
    user: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def register(server: Server, role: str, **fields: Any) -> Account:
    """A new user on `server` (masters get the specializations given, or none)."""
    email = f"{role}{next(_seq)}-{os.getpid()}@example.com"
    body = {"email": email, "password": PASSWORD, "name": f"{role.title()} {email[:-12]}",
            "phone": "+1 555 0100", "role": role, **fields}
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        response = await http.post("/api/auth/register", json=body)
    assert response.status_code == 201, response.text
    data = response.json()
    return Account(email, PASSWORD, data["token"], data["user"])


async def call(server: Server, method: str, path: str, who: Account | None = None,
               expect: int = 200, **kwargs: Any) -> Any:
    """One REST call as `who` (logging in again first, in case its token ran out)."""
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        headers = None
        if who is not None:
            login = await http.post("/api/auth/login",
                                    json={"email": who.email, "password": who.password})
            headers = {"Authorization": f"Bearer {login.json()['token']}"}
        response = await http.request(method, path, headers=headers, **kwargs)
    assert response.status_code == expect, (method, path, response.text)
    return response.json() if response.content else None


async def place_order(server: Server, client: Account, appliance_type: str) -> dict[str, Any]:
    body = {"applianceType": appliance_type, "problem": "does not spin", "address": "1 Main St"}
    return await call(server, "POST", "/api/orders", client, expect=201, json=body)


def unique_appliance() -> str:
    """An appliance type of one test's own: only that test's master repairs it, so offers
    never go to another test's master."""
    return f"appliance_{next(_seq)}_{os.getpid()}"


async def eventually(predicate: Any, within: float = 5.0, interval: float = 0.02) -> Any:
    """Wait until the synchronous `predicate()` is truthy; its value."""
    async with asyncio.timeout(within):
        while True:
            if result := predicate():
                return result
            await asyncio.sleep(interval)


def delivered_via(server: Server, offer_id: int) -> str | None:
    """How the server recorded the offer delivered (`deliveredVia`; None: not yet), read from
    its database without a poll, which would itself count as a delivery."""
    path = server.database_url.split("///", 1)[1]
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT delivered_via FROM assignments WHERE id = ?",
                           (offer_id,)).fetchone()
    conn.close()
    assert row is not None, f"no offer {offer_id}"
    return row[0]


async def frames_in(server: Server, kind: str) -> float:
    """The server's count of frames of `kind` received (from /metrics)."""
    async with httpx.AsyncClient(base_url=server.url) as http:
        text = (await http.get("/metrics")).text
    found = re.search(rf'dispatchwire_ws_frames_in_total{{type="{kind}"}} (\S+)', text)
    return float(found.group(1)) if found else 0.0


def pending_offers(server: Server, master_id: int) -> list[int]:
    """The master's pending offers, read from the server's database (a poll would deliver)."""
    path = server.database_url.split("///", 1)[1]
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT id FROM assignments WHERE master_id = ? AND status = "
                            "'pending' ORDER BY id", (master_id,)).fetchall()
    conn.close()
    return [row[0] for row in rows]
