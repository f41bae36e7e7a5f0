"""The job after the offer in a real browser: the master's page shares his position (the
browser's Geolocation API, emulated by Chromium) and chats; the client's page shows where he is,
how far from the address, and the chat, live; both pages in English and Russian, with no word of
the other language on screen."""

import asyncio
import itertools
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.server import ServerProcess
from tests.web.conftest import PHONE, Api, Pages, screenshot, start_server
from tests.web.i18n import Catalogues, load_catalogues, login_any_language, shows_only

ADDRESS = {"lat": 55.7520, "lon": 37.6175}  # the order's address
ON_THE_WAY = {"latitude": 55.7700, "longitude": 37.5900}  # about 2.7 km from it
CLOSER = {"latitude": 55.7550, "longitude": 37.6100}  # about 580 m from it
DESKTOP = {"width": 1280, "height": 900}
MODES = {"en": ("en", {"query": "lang=en"}), "ru": ("ru", {"query": "lang=ru"}),
         "ru-RU": ("ru", {"locale": "ru-RU"})}
_seq = itertools.count(1)


@pytest.fixture(scope="module")
def job_server() -> Iterator[ServerProcess]:
    """A server of its own: every name and address on its pages comes from this module."""
    running = start_server("job")
    yield running
    running.stop()


@pytest.fixture
async def job_api(job_server: ServerProcess) -> AsyncIterator[Api]:
    client = Api(job_server.url)
    yield client
    await client.client.aclose()


@pytest.fixture(scope="module")
async def catalogues(browser: Browser, job_server: ServerProcess) -> Catalogues:
    return await load_catalogues(browser, job_server.url)


async def accepted_job(api: Api, master_name: str, client_name: str
                       ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(master, client, order): a master on shift accepted the client's order (by REST, as his
    phone's app would), placed with the address's coordinates."""
    n = next(_seq)
    appliance = f"job_{n}"  # a type of this test's own: no other test's master gets the order
    master = await api.register("master", name=master_name, specializations=[appliance],
                                email=f"m{n}.job@example.org", phone="+7 900 000-00-00")
    client = await api.register("client", name=client_name, email=f"c{n}.job@example.org",
                                phone="+7 900 000-00-01")
    await api.call("POST", "/api/masters/me/shift/start", master["token"])
    order = await api.call("POST", "/api/orders", client["token"], expect_status=201, json={
        "applianceType": appliance, "problem": "Не сливается вода", "address": "ул. Тверская, 1",
        **ADDRESS})
    [offer] = await api.call("GET", "/api/assignments/pending", master["token"])
    await api.call("POST", f"/api/assignments/{offer['id']}/accept", master["token"])
    return master, client, order


async def open_master(pages: Pages, base: str, master: dict[str, Any], **options: Any) -> Page:
    """The master's page on a phone whose position Chromium emulates, permission given."""
    page = await pages.open(base, "/master", phone=True, geolocation=ON_THE_WAY,
                            permissions=["geolocation"], **options)
    await login_any_language(page, master["email"], master["password"])
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    return page


async def open_client(pages: Pages, base: str, client: dict[str, Any], **options: Any) -> Page:
    page = await pages.open(base, "/", viewport=DESKTOP, **options)
    await login_any_language(page, client["email"], client["password"])
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    return page


async def shown_within(locator: Any, attribute: str, value: str, started: float) -> float:
    """Seconds from `started` until `locator` has `attribute` = `value`."""
    await expect(locator).to_have_attribute(attribute, value, timeout=5000)
    return time.monotonic() - started


async def write(page: Page, order_id: int, text: str) -> None:
    chat = page.locator(f".chat[data-order-id='{order_id}']")
    await chat.locator("textarea").fill(text)
    await chat.locator("textarea").press("Enter")


async def test_the_client_sees_the_master_move_and_his_message_within_a_second(
        pages: Pages, job_api: Api, job_server: ServerProcess) -> None:
    master, client, order = await accepted_job(job_api, "Boris Driver", "Clara Waiting")
    client_page = await open_client(pages, job_server.url, client)
    card = client_page.locator(f"#orders li.order[data-order-id='{order['id']}']")
    await expect(card).to_contain_text("Boris Driver is coming")
    position = card.locator(".position")
    await expect(position).to_contain_text("location shows here once he shares it")
    master_page = await open_master(pages, job_server.url, master)
    share = master_page.locator(".location-share")
    await expect(share).to_contain_text("your client sees where you are")
    await expect(share).to_contain_text("Your location is not shared.")

    await share.get_by_role("button", name="Share my location").click()
    started = time.monotonic()
    await shown_within(position, "data-lat", str(ON_THE_WAY["latitude"]), started)
    await expect(position).to_contain_text(re.compile(r"Location updated \d+ sec\. ago"))
    await expect(position).to_contain_text(re.compile(r"^.*2\.\d km from your address"))
    await expect(share).to_have_attribute("data-sharing", "true")
    await expect(share).to_contain_text("Your client sees where you are · sent")
    await asyncio.sleep(2.1)  # the server keeps one position every 2 s (the default)

    await master_page.context.set_geolocation(CLOSER)
    moved = await shown_within(position, "data-lat", str(CLOSER["latitude"]),
                               time.monotonic())
    assert moved < 1.0, f"the new position took {moved:.2f} s to show"
    await expect(position).to_contain_text(re.compile(r"5[5-9]0 m from your address"))
    master_dot = position.locator("svg .master-dot")
    assert float(await master_dot.get_attribute("cy") or 0) < 0  # north of the address

    await write(master_page, order["id"], "Буду через 5 минут, I am on Tverskaya")
    started = time.monotonic()
    message = card.locator(".chat .chat-message").last
    await expect(message).to_contain_text("I am on Tverskaya", timeout=5000)
    took = time.monotonic() - started
    assert took < 1.0, f"the message took {took:.2f} s to show"
    await expect(message).to_contain_text("Boris Driver")
    await expect(client_page.locator("#notice")).to_contain_text(
        f"New message on order #{order['id']}")
    await write(client_page, order["id"], "The gate code is 42")
    job_chat = master_page.locator(f"#jobs .chat[data-order-id='{order['id']}']")
    await expect(job_chat.locator(".chat-message").last).to_contain_text("The gate code is 42")
    await expect(job_chat.locator(".chat-message").last).to_contain_text("Clara Waiting")
    await expect(job_chat.locator(".chat-message.mine")).to_have_count(1)
    await screenshot(client_page, "job-client-en-1280")
    await screenshot(master_page, "job-master-en-phone")

    # The master stops: nothing more is sent; the client keeps the last position, aging.
    await share.get_by_role("button", name="Stop sharing").click()
    await expect(share).to_contain_text("Your location is not shared.")
    await master_page.context.set_geolocation(ON_THE_WAY)
    await asyncio.sleep(0.5)
    await expect(position).to_have_attribute("data-lat", str(CLOSER["latitude"]))

    # The job ends: the position goes from the client's page, the chat stays to read.
    for status in ("in_progress", "completed"):
        await job_api.call("POST", f"/api/orders/{order['id']}/status", master["token"],
                           json={"status": status})
    await expect(card).to_have_attribute("data-status", "completed")
    await expect(card.locator(".position")).to_have_count(0)
    await expect(share).to_be_hidden()
    history = card.locator("details.chat-history")
    await history.locator("summary").click()
    await expect(history.locator(".chat-message")).to_have_count(2)
    await expect(history.locator("form")).to_be_hidden()


async def test_sharing_is_remembered_and_needs_a_job(
        pages: Pages, job_api: Api, job_server: ServerProcess) -> None:
    master, client, order = await accepted_job(job_api, "Dmitri Remember", "Eva Client")
    master_page = await open_master(pages, job_server.url, master)
    await master_page.locator(".location-share button").click()
    await expect(master_page.locator(".location-share")).to_have_attribute("data-sharing", "true")
    await master_page.reload()  # the choice holds across a reload: sharing goes on by itself
    await expect(master_page.locator("#connection")).to_have_attribute("data-state", "live")
    client_seen = await job_api.call("GET", f"/api/orders/{order['id']}", client["token"])
    if client_seen["master"]["location"] is None:
        await asyncio.sleep(2.1)
    await expect(master_page.locator(".location-share")).to_have_attribute("data-sharing", "true")
    await expect(master_page.locator(".location-share")).to_contain_text("sent")
    await job_api.call("POST", f"/api/orders/{order['id']}/status", client["token"],
                       json={"status": "cancelled"})
    await expect(master_page.locator(".location-share")).to_be_hidden()
    await expect(master_page.locator(".location-share")).to_have_attribute("data-sharing", "false")


async def test_the_client_adds_his_location_to_an_order(
        pages: Pages, job_api: Api, job_server: ServerProcess) -> None:
    client = await job_api.register("client", email=f"c{next(_seq)}.loc@example.org")
    page = await pages.open(job_server.url, "/", phone=True, permissions=["geolocation"],
                            geolocation={"latitude": ADDRESS["lat"], "longitude": ADDRESS["lon"]})
    await login_any_language(page, client["email"], client["password"])
    form = page.locator("#order-form")
    await form.locator("textarea").fill("Hums")
    await form.locator("input[name=address]").fill("ул. Тверская, 1")
    await form.get_by_role("button", name="Use my current location").click()
    await expect(form.locator("#locate-state")).to_have_text("Your location is added to the order.")
    await form.get_by_role("button", name="Place order").click()
    card = page.locator("#orders li.order").first
    await expect(card).to_have_attribute("data-status", "new")
    order_id = int(await card.get_attribute("data-order-id") or 0)
    order = await job_api.call("GET", f"/api/orders/{order_id}", client["token"])
    assert (order["lat"], order["lon"]) == (ADDRESS["lat"], ADDRESS["lon"])
    await expect(form.locator("#locate-state")).to_contain_text("optional")  # reset for the next
    await job_api.call("POST", f"/api/orders/{order_id}/status", client["token"],
                       json={"status": "cancelled"})


@pytest.mark.parametrize("mode", list(MODES))
async def test_the_job_pages_in_each_language(
        mode: str, pages: Pages, job_api: Api, job_server: ServerProcess,
        catalogues: Catalogues) -> None:
    lang, how = MODES[mode]
    master, client, order = await accepted_job(job_api, "Иван Петров", "Ольга Смирнова")
    data = ("Иван Петров", "Ольга Смирнова", master["email"], client["email"],
            "Не сливается вода", "ул. Тверская, 1", "+7 900 000-00-00", "+7 900 000-00-01",
            "Подъезд 2, код 1234", "Hello, I am downstairs")
    options = {"query": how.get("query", ""), "locale": how.get("locale", "en-US")}
    master_page = await open_master(pages, job_server.url, master, **options)
    client_page = await open_client(pages, job_server.url, client, **options)
    share = master_page.locator(".location-share")
    await shows_only(master_page, lang, catalogues, "Иван Петров", data=data)
    await screenshot(master_page, f"job-{mode}-1-master-job")

    await share.locator("button").click()
    position = client_page.locator(f".position[data-order-id='{order['id']}']")
    await expect(position).to_have_attribute("data-lat", str(ON_THE_WAY["latitude"]))
    await write(master_page, order["id"], "Hello, I am downstairs")
    await write(client_page, order["id"], "Подъезд 2, код 1234")
    await expect(master_page.locator(".chat-message")).to_have_count(2)
    await expect(client_page.locator(".chat-message")).to_have_count(2)
    words = {"en": ("Your client sees where you are", "Messages", "Stop sharing"),
             "ru": ("Клиент видит, где вы", "Сообщения", "Не передавать")}[lang]
    await shows_only(master_page, lang, catalogues, *words, data=data)
    await master_page.set_viewport_size(PHONE)
    await screenshot(master_page, f"job-{mode}-2-master-sharing-phone")
    client_words = {"en": ("Where your master is", "from your address", "Location updated"),
                    "ru": ("Где ваш мастер", "от вашего адреса", "Местоположение обновлено")}[lang]
    await shows_only(client_page, lang, catalogues, *client_words, data=data)
    await screenshot(client_page, f"job-{mode}-3-client-1280")
    await client_page.set_viewport_size(PHONE)
    await screenshot(client_page, f"job-{mode}-3-client-phone")
    await job_api.call("POST", f"/api/orders/{order['id']}/status", master["token"],
                       json={"status": "in_progress"})
    await job_api.call("POST", f"/api/orders/{order['id']}/status", master["token"],
                       json={"status": "completed"})
    await expect(share).to_be_hidden()
    await shows_only(master_page, lang, catalogues, data=data)
    await job_api.call("POST", "/api/masters/me/shift/end", master["token"])
