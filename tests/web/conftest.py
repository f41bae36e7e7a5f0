"""Browser fixtures: Debian's Chromium driven by Playwright, against real server processes."""

import asyncio
import itertools
import json
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    WebSocketRoute,
    async_playwright,
    expect,
)

from tests.conftest import TEST_SECRET
from tests.server import ServerProcess

CHROMIUM = "/usr/bin/chromium"
# The machine's network is closed: without these Chromium stalls on refused connections.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "web"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# The pages' timings, made short: reconnect at once, poll every second (see socket.js).
FAST = "retryS=0.2&retryCapS=0.4&pollS=1&refreshS=0.5"

expect.set_options(timeout=5000)
_seq = itertools.count(1)


def start_server(name: str, *, timeout_s: float = 120, port: int | None = None,
                 **env: str) -> ServerProcess:
    """`dispatchwire serve --demo` on test-artifacts/web/NAME.db, logging beside it; `env`
    adds settings.

    With `port`, a restart: the same database on the same port, as after a crash.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    database = ARTIFACTS / f"{name}.db"
    if port is None:
        for leftover in ARTIFACTS.glob(f"{name}.db*"):
            leftover.unlink()
    env = {"DISPATCHWIRE_JWT_SECRET": TEST_SECRET, "DISPATCHWIRE_ARGON2_TIME_COST": "1",
           "DISPATCHWIRE_ARGON2_MEMORY_KIB": "1024",
           "DISPATCHWIRE_ASSIGNMENT_TIMEOUT_S": str(timeout_s), **env}
    server = ServerProcess(database_url=f"sqlite:///{database}", env=env, args=("--demo",),
                           port=port, log_path=ARTIFACTS / f"{name}.log")
    return server.start()


@pytest.fixture(scope="session")
def server() -> Iterator[ServerProcess]:
    """The server most tests share; each test uses its own users and appliance types."""
    # Each xdist worker has a session, so a shared server, of its own: never one file for two.
    running = start_server(f"server-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}")
    yield running
    running.stop()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.fail("tests/web need Debian's chromium: apt-get install chromium (.ci/run does)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                    args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


class Pages:
    """Pages of one test, each in its own browser context (its own storage: another person)."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.contexts: list[BrowserContext] = []
        self.errors: list[str] = []

    async def open(self, base: str, path: str, *, phone: bool = False, query: str = "",
                   before: Any = None, **options: Any) -> Page:
        """A page in a new context; `options` go to the context (`locale`, `viewport`)."""
        context = await self.browser.new_context(
            **{"viewport": PHONE if phone else DESKTOP, "base_url": base, **options})
        self.contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"{path}: {error}"))
        if before:
            await before(page)
        await page.goto(path + (f"?{query}" if query else ""))
        return page

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@pytest.fixture
async def pages(browser: Browser) -> AsyncIterator[Pages]:
    opened = Pages(browser)
    yield opened
    await opened.close()
    assert not opened.errors, f"uncaught errors in the pages: {opened.errors}"


async def login(page: Page, email: str, password: str) -> None:
    form = page.locator("#login-form")
    await form.get_by_label("Email").fill(email)
    await form.get_by_label("Password").fill(password)
    await form.get_by_role("button", name="Log in").click()


async def screenshot(page: Page, name: str, *, full_page: bool = True) -> None:
    """The whole page, or what the screen shows (a dialog, over the page where it is)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar where it belongs
    await page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=full_page)


class SocketSwitch:
    """Routes a page's sockets to the server while on; cuts them, and refuses new ones, off.

    `await page.route_web_socket(re.compile(r"/ws$"), switch.handle)` before the page loads.
    """

    def __init__(self) -> None:
        self.on = True
        self.routes: list[WebSocketRoute] = []
        self.auths: list[dict[str, Any]] = []  # the auth frames the page sent, token left out

    async def handle(self, route: WebSocketRoute) -> None:
        if not self.on:
            await route.close(code=1001, reason="cut by the test")
            return
        server = route.connect_to_server()
        route.on_message(lambda message: self._forward(server, message))
        self._connected(route, server)
        self.routes.append(route)

    def _connected(self, route: WebSocketRoute, server: WebSocketRoute) -> None:
        """A page's socket reached the server (frames from the server pass untouched)."""

    def _forward(self, server: WebSocketRoute, message: str | bytes) -> None:
        frame = json.loads(message)
        if frame.get("type") == "auth":
            self.auths.append({k: v for k, v in frame.items() if k != "token"})
        server.send(message)

    async def cut(self) -> None:
        self.on = False
        routes, self.routes = self.routes, []
        for route in routes:
            await route.close(code=1001, reason="cut by the test")


class Api:
    """Set-up through the REST API, as another app of the same users would do it."""

    def __init__(self, base: str) -> None:
        self.client = httpx.AsyncClient(base_url=base, timeout=10)

    async def call(self, method: str, path: str, token: str | None = None,
                   expect_status: int = 200, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        response = await self.client.request(method, path, headers=headers, **kwargs)
        assert response.status_code == expect_status, (method, path, response.text)
        return response.json()

    async def register(self, role: str, **fields: Any) -> dict[str, Any]:
        n = next(_seq)
        body = {"email": f"web-{role}{n}@example.com", "password": f"{role}-password-{n}",
                "name": f"{role.title()} {n}", "phone": f"+1 555 02{n:02d}", "role": role,
                **fields}
        data = await self.call("POST", "/api/auth/register", json=body, expect_status=201)
        return {**data["user"], "password": body["password"], "token": data["token"]}

    async def login(self, email: str, password: str) -> dict[str, Any]:
        data = await self.call("POST", "/api/auth/login",
                               json={"email": email, "password": password})
        return {**data["user"], "token": data["token"]}

    async def wait_subscribed(self, master_id: int, within: float = 15.0) -> None:
        """Until the master's socket is subscribed: offers made before are not pushed to it."""
        admin = await self.login("admin@example.com", "admin-demo-1")
        deadline = asyncio.get_running_loop().time() + within
        while True:
            stats = await self.call("GET", "/api/admin/websocket/stats", admin["token"])
            if master_id in [row["masterId"] for row in stats["subscriptions"]]:
                return
            assert asyncio.get_running_loop().time() < deadline, f"master {master_id} unsubscribed"
            await asyncio.sleep(0.05)

    async def order(self, token: str, appliance_type: str) -> dict[str, Any]:
        body = {"applianceType": appliance_type, "problem": "Makes a loud noise",
                "address": "7 Test Lane"}
        return await self.call("POST", "/api/orders", token, json=body, expect_status=201)


@pytest.fixture
async def api(server: ServerProcess) -> AsyncIterator[Api]:
    client = Api(server.url)
    yield client
    await client.client.aclose()
