"""The master page through expiries and lost sockets: polling while down, live again after."""

import asyncio
import re
from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Page, expect

from tests.server import ServerProcess
from tests.web.conftest import FAST, Api, Pages, SocketSwitch, login, screenshot, start_server

TIMEOUT_S = 4.0  # the offer deadline on the expiry server


@pytest.fixture(scope="module")
def expiry_server() -> Iterator[ServerProcess]:
    running = start_server("expiry", timeout_s=TIMEOUT_S)
    yield running
    running.stop()


@pytest.fixture
async def expiry_api(expiry_server: ServerProcess) -> AsyncIterator[Api]:
    client = Api(expiry_server.url)
    yield client
    await client.client.aclose()


async def master_on_shift(pages: Pages, api: Api, base: str, appliance: str,
                          query: str = FAST, before: object = None) -> tuple[Page, dict]:
    """A new master of `appliance`, logged in on the page, shift started, live."""
    master = await api.register("master", specializations=[appliance])
    page = await pages.open(base, "/master", phone=True, query=query, before=before)
    await login(page, master["email"], master["password"])
    await page.get_by_role("button", name="Start shift").click()
    await expect(page.locator("#shift-state")).to_contain_text("On shift")
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    await api.wait_subscribed(master["masterId"])
    return page, master


async def test_an_expired_or_withdrawn_offer_leaves_the_page(
        pages: Pages, expiry_api: Api, expiry_server: ServerProcess) -> None:
    page, master = await master_on_shift(pages, expiry_api, expiry_server.url, "expiry_oven")
    client = await expiry_api.register("client")
    order = await expiry_api.order(client["token"], "expiry_oven")
    offer = page.locator("#offers li.offer")
    await expect(offer).to_have_count(1)
    first_offer = int(await offer.get_attribute("data-assignment-id") or 0)

    # An admin offers the order again by hand: the first offer is withdrawn (assignment_expired
    # over the socket, long before its deadline) and the new one takes its place.
    admin = await expiry_api.login("admin@example.com", "admin-demo-1")
    manual = await expiry_api.call("POST", "/api/admin/assignments", admin["token"],
                                   json={"orderId": order["id"], "masterId": master["masterId"]},
                                   expect_status=201)
    await expect(offer).to_have_attribute("data-assignment-id", str(manual["id"]))
    assert manual["id"] != first_offer
    await expect(offer.locator(".time")).to_have_text(re.compile(r"^0:0[1-4] left to answer$"))
    await expect(page).to_have_title(re.compile(r"^\(1\) "))
    await screenshot(page, "10-master-offer-expiring")

    # Its deadline passes: the offer leaves the page, and the master is told.
    await expect(offer).to_have_count(0, timeout=(TIMEOUT_S + 3) * 1000)
    await expect(page.locator("#notice")).to_contain_text(f"order #{order['id']}")
    await expect(page.locator("#offers-empty")).to_be_visible()
    await expect(page).to_have_title("Master · dispatchwire")
    assert await expiry_api.call("GET", "/api/assignments/pending", master["token"]) == []
    await screenshot(page, "11-master-offer-expired")


async def test_a_cut_socket_falls_back_to_polling_then_goes_live_again(
        pages: Pages, api: Api, server: ServerProcess) -> None:
    switch = SocketSwitch()

    async def route_sockets(page: Page) -> None:
        await page.route_web_socket(re.compile(r"/ws$"), switch.handle)

    page, master = await master_on_shift(pages, api, server.url, "cut_fridge",
                                         before=route_sockets)
    client = await api.register("client")
    live_order = await api.order(client["token"], "cut_fridge")  # event 1 for the master
    offer = page.locator(f"li.offer[data-order-id='{live_order['id']}']")
    await offer.get_by_role("button", name="Decline").click()
    await expect(offer).to_have_count(0)

    indicator = page.locator("#connection")
    await switch.cut()
    await expect(indicator).to_have_attribute("data-state", "polling")
    await expect(indicator).to_contain_text("polling every 1 s")
    await expect(page.get_by_role("button", name="Reconnect now")).to_be_visible()
    await screenshot(page, "12-master-polling")

    # While the socket is down, the offer comes by polling GET /api/assignments/pending.
    order = await api.order(client["token"], "cut_fridge")
    await expect(page.locator(f"li.offer[data-order-id='{order['id']}']")).to_be_visible()
    await expect(indicator).to_have_attribute("data-state", "polling")

    seen = await page.evaluate(f"sessionStorage.getItem('dispatchwire.lastEventId.{master['id']}')")
    switch.on = True
    await expect(indicator).to_have_attribute("data-state", "live")
    resumed = {"type": "auth", "acks": True, "lastEventId": 1}  # the newest event applied
    assert seen == "1" and switch.auths[-1] == resumed
    await expect(page.locator("#connection-text")).to_have_text("Live")
    await expect(page.get_by_role("button", name="Reconnect now")).to_be_hidden()
    admin = await api.login("admin@example.com", "admin-demo-1")
    stats = await api.call("GET", "/api/admin/websocket/stats", admin["token"])
    assert master["masterId"] in [row["masterId"] for row in stats["subscriptions"]]
    await screenshot(page, "13-master-live-again")


async def test_a_server_restart_shows_polling_then_live_again(pages: Pages) -> None:
    server = await asyncio.to_thread(start_server, "restart")
    try:
        api = Api(server.url)
        page, master = await master_on_shift(pages, api, server.url, "restart_oven")
        indicator = page.locator("#connection")
        await asyncio.to_thread(server.kill)
        await expect(indicator).to_have_attribute("data-state", "polling")
        await expect(indicator).to_contain_text("server unreachable")

        server = await asyncio.to_thread(start_server, "restart", port=server.port)
        await expect(indicator).to_have_attribute("data-state", "live")
        client = await api.register("client")
        order = await api.order(client["token"], "restart_oven")
        await expect(page.locator(f"li.offer[data-order-id='{order['id']}']")).to_be_visible()
        # The page resumes from the newest event it saw, kept for the tab across reloads.
        stored = await page.evaluate(
            f"sessionStorage.getItem('dispatchwire.lastEventId.{master['id']}')")
        assert stored is not None and int(stored) >= 1
        await api.client.aclose()
    finally:
        await asyncio.to_thread(server.stop)
