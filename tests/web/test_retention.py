"""The master page resuming after the server deleted what it missed (a retention of one
second): told `recovered: false`, it gets no replay and reloads its offers by REST."""

import asyncio
import contextlib
import json
import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from playwright.async_api import Page, WebSocketRoute, expect

from tests.server import ServerProcess
from tests.web.conftest import ARTIFACTS, Api, Pages, SocketSwitch, screenshot, start_server
from tests.web.test_connection import master_on_shift

# Reconnect at once; no fallback poll but the one at the cut, so that only the resume can
# bring what changed meanwhile.
QUERY = "retryS=0.2&retryCapS=0.4&pollS=600"


@pytest.fixture(scope="module")
def retention_server() -> Iterator[ServerProcess]:
    running = start_server("retention", DISPATCHWIRE_EVENT_RETENTION_S="1")
    yield running
    running.stop()


@pytest.fixture
async def retention_api(retention_server: ServerProcess) -> AsyncIterator[Api]:
    client = Api(retention_server.url)
    yield client
    await client.client.aclose()


class Recorder(SocketSwitch):
    """A switch that also keeps the frames the server sends the page."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[dict[str, Any]] = []

    def _connected(self, route: WebSocketRoute, server: WebSocketRoute) -> None:
        server.on_message(lambda message: self._back(route, message))

    def _back(self, route: WebSocketRoute, message: str | bytes) -> None:
        self.frames.append(json.loads(message))
        route.send(message)


def events_of(user_id: int) -> int:
    path = ARTIFACTS / "retention.db"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return int(db.execute("SELECT count(*) FROM events WHERE user_id = ?",
                              (user_id,)).fetchone()[0])


async def test_the_page_reloads_what_the_server_no_longer_has(
        pages: Pages, retention_api: Api, retention_server: ServerProcess) -> None:
    api, switch = retention_api, Recorder()

    async def route_sockets(page: Page) -> None:
        await page.route_web_socket(re.compile(r"/ws$"), switch.handle)

    page, master = await master_on_shift(pages, api, retention_server.url, "gone_oven",
                                         query=QUERY, before=route_sockets)
    client = await api.register("client")
    first = await api.order(client["token"], "gone_oven")  # event 1, live
    first_card = page.locator(f"li.offer[data-order-id='{first['id']}']")
    await expect(first_card).to_be_visible()

    await switch.cut()
    await expect(page.locator("#connection")).to_have_attribute("data-state", "polling")
    await asyncio.sleep(1.0)  # the one poll at the cut has been answered
    await api.call("POST", f"/api/orders/{first['id']}/status", client["token"],
                   json={"status": "cancelled"})  # event 2: withdrawn
    second = await api.order(client["token"], "gone_oven")  # event 3: a new offer
    second_card = page.locator(f"li.offer[data-order-id='{second['id']}']")
    for _ in range(100):  # retention deletes all three within a couple of seconds
        if events_of(master["id"]) == 0:
            break
        await asyncio.sleep(0.1)
    assert events_of(master["id"]) == 0
    await expect(first_card).to_be_visible()  # the page has not heard of any of it yet
    await expect(second_card).to_have_count(0)

    seen = len(switch.frames)
    switch.on = True
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    await expect(second_card).to_be_visible()
    await expect(first_card).to_have_count(0)
    assert switch.auths[-1] == {"type": "auth", "lastEventId": 1, "acks": True}
    after = switch.frames[seen:]
    assert after[0]["type"] == "auth_success" and after[0]["recovered"] is False
    assert [f for f in after if "eventId" in f] == []  # nothing replayed: reloaded by REST
    await screenshot(page, "14-master-reloaded-after-retention")
