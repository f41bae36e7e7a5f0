"""Fixtures: every database test runs on SQLite and on a real, throwaway PostgreSQL."""

import asyncio
import contextlib
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from dispatchwire.app import create_app
from dispatchwire.auth.service import create_user
from dispatchwire.context import Context, open_context
from dispatchwire.settings import Settings
from tests.pg import PostgresServer

TEST_SECRET = "test-secret-" + "x" * 40
_names = itertools.count(1)
# The tests register masters and start their shifts: masters need no approval in them, here
# and in the servers they start (which inherit the environment), but where a test says so.
os.environ.setdefault("DISPATCHWIRE_MASTERS_NEED_APPROVAL", "false")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    server = PostgresServer.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def breakable_pg() -> Iterator[PostgresServer]:
    """A PostgreSQL that tests stop and start again (`shut_down`, `kill`, `start_again`): the
    shared one stays up for everyone else. A test that stops it starts it again."""
    server = PostgresServer.start()
    yield server
    server.stop()


async def fresh_database(server: PostgresServer) -> str:
    """A new, empty database on `server`; its URL."""
    name = f"b{next(_names)}"
    await asyncio.to_thread(server.sql, f"CREATE DATABASE {name}")
    return server.url(name)


@pytest.fixture(scope="session")
def pg_template(pg_server: PostgresServer) -> str:
    """A migrated database that each test's database is copied from."""
    pg_server.sql("CREATE DATABASE dw_template")

    async def migrate() -> None:
        async with open_context(make_settings(pg_server.url("dw_template"))):
            pass

    # Fixtures of this kind run inside the suite's event loop: migrate on a loop of its own.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, migrate()).result()
    return "dw_template"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database for one test."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    server: PostgresServer = request.getfixturevalue("pg_server")
    template = request.getfixturevalue("pg_template")
    name = f"t{next(_names)}"
    server.sql(f"CREATE DATABASE {name} TEMPLATE {template}")
    return server.url(name)


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url, "jwt_secret": TEST_SECRET, "argon2_time_cost": 1,
        "argon2_memory_kib": 1024, "assignment_timeout_s": 300,
        "masters_need_approval": False,
        # Shedding (http/overload.py, tested in tests/http/test_overload.py) would refuse some
        # of the orders that a test places quickly on a loaded CI machine, and fail the test.
        "overload_queue_ms": 0, **overrides,
    }
    return Settings(**values)


@dataclass
class Person:
    """A user of the API in a test, with a token."""

    id: int
    email: str
    role: str
    token: str
    master_id: int | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Api:
    """A running app, an HTTP client on it, and short-cuts for the usual set-up."""

    client: httpx.AsyncClient
    ctx: Context
    password: str = "correct horse battery"
    _seq: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    async def call(self, method: str, path: str, who: Person | None = None,
                   expect: int | None = 200, **kwargs: Any) -> Any:
        response = await self.client.request(method, path,
                                             headers=who.headers if who else None, **kwargs)
        if expect is not None:
            assert response.status_code == expect, (method, path, response.text)
        return response.json() if response.content else None

    async def register(self, role: str, **fields: Any) -> Person:
        body = {"email": f"{role}{next(self._seq)}@example.com", "password": self.password,
                "name": f"{role.title()} {next(self._seq)}", "role": role, **fields}
        data = await self.call("POST", "/api/auth/register", json=body, expect=201)
        user = data["user"]
        return Person(user["id"], user["email"], role, data["token"], user.get("masterId"))

    async def admin(self) -> Person:
        email = f"admin{next(self._seq)}@example.com"
        await create_user(self.ctx, email=email, password=self.password, name="Admin",
                          phone=None, role="admin")
        data = await self.call("POST", "/api/auth/login",
                               json={"email": email, "password": self.password})
        return Person(data["user"]["id"], email, "admin", data["token"])

    async def master(self, *, specializations: list[str] | None = None, on_shift: bool = True,
                     lat: float | None = None, lon: float | None = None) -> Person:
        master = await self.register("master", specializations=specializations or [])
        if lat is not None:
            await self.call("PATCH", "/api/masters/me", master, json={"lat": lat, "lon": lon})
        if on_shift:
            await self.call("POST", "/api/masters/me/shift/start", master)
        return master

    async def order(self, client: Person, appliance_type: str = "washing_machine",
                    **fields: Any) -> dict[str, Any]:
        body = {"applianceType": appliance_type, "problem": "does not spin",
                "address": "1 Main St", **fields}
        return await self.call("POST", "/api/orders", client, json=body, expect=201)

    async def pending(self, master: Person) -> list[dict[str, Any]]:
        return await self.call("GET", "/api/assignments/pending", master)


@contextlib.asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[Api]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Api(client, app.state.ctx)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change the app's settings."""
    return {}


@pytest.fixture
async def api(database_url: str, settings_overrides: dict[str, Any]) -> AsyncIterator[Api]:
    async with running_app(make_settings(database_url, **settings_overrides)) as running:
        yield running


DELIVERY_FIELDS = ("deliveredAt", "deliveredVia")


def as_sent(offer: dict[str, Any]) -> dict[str, Any]:
    """A polled offer as its `new_assignment` event showed it: without how it was delivered."""
    return {key: value for key, value in offer.items() if key not in DELIVERY_FIELDS}


async def wait_for(predicate: Any, within: float = 5.0, interval: float = 0.02) -> Any:
    """Poll an async predicate until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        if result := await predicate():
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(interval)
