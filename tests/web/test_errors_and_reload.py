"""Every error the API returns is shown in words; a reload keeps the session and the state."""

import json
import re

from playwright.async_api import Page, expect

from tests.server import ServerProcess
from tests.web.conftest import FAST, Api, Pages, SocketSwitch, login, screenshot


async def error_says(page: Page, text: str | re.Pattern[str]) -> None:
    await expect(page.get_by_role("alert")).to_be_visible()
    await expect(page.locator("#error-text")).to_have_text(text)


async def test_api_errors_are_shown_clearly(pages: Pages, api: Api,
                                            server: ServerProcess) -> None:
    master = await pages.open(server.url, "/master", phone=True)
    await login(master, "master2@example.com", "not-the-password")
    await error_says(master, "Wrong email or password.")  # 401
    await expect(master.locator("#login-view")).to_be_visible()
    await login(master, "client@example.com", "client-demo-1")  # the wrong page for a client
    await error_says(master, re.compile(r"^This page is for masters; client@example.com is a "
                                        r"client account: use the page at / instead\.$"))
    await master.get_by_role("button", name="Dismiss the error").click()
    await expect(master.get_by_role("alert")).to_be_hidden()

    client = await pages.open(server.url, "/", phone=True)
    register = client.locator("#register-form")
    await register.get_by_label("Name").fill("Eve Again")
    await register.get_by_label("Email").fill("client@example.com")
    await register.get_by_label("Password").fill("long-enough-1")
    await register.get_by_role("button", name="Create account").click()
    await error_says(client, "The email client@example.com is already registered.")  # 409
    await register.get_by_label("Email").fill("eve.again@example.com")
    await register.get_by_label("Phone").fill("call me")
    await register.get_by_role("button", name="Create account").click()
    await error_says(client, re.compile(r"^Phone: phone must be 5 to 30 digits"))  # 422
    await screenshot(client, "20-client-error")

    # The admin's page is stale (it refreshes every 60 s here, and its socket, which would
    # bring the order's change at once, is cut) when the order changes: 409.
    cut = SocketSwitch()
    cut.on = False

    async def cut_sockets(page: Page) -> None:
        await page.route_web_socket(re.compile(r"/ws$"), cut.handle)

    admin_page = await pages.open(server.url, "/admin", query="refreshS=60", before=cut_sockets)
    await login(admin_page, "admin@example.com", "admin-demo-1")
    await expect(admin_page.locator("#app-view")).to_be_visible()  # logged in before the reload
    admin = await api.login("admin@example.com", "admin-demo-1")
    order = await api.order(admin["token"], "nobody_repairs_this")
    await admin_page.reload()
    row = admin_page.locator(f"#orders tr[data-order-id='{order['id']}']")
    await expect(row).to_have_attribute("data-status", "new")
    master2 = await api.login("master2@example.com", "master-demo-2")
    choice = row.get_by_label(f"Technician for order #{order['id']}")
    await expect(choice.locator(f"option[value='{master2['masterId']}']")).to_have_text(
        "Chen Frost · off shift")  # marked: he cannot take it now, and the server says why
    await choice.select_option(str(master2["masterId"]))
    await row.get_by_role("button", name="Offer").click()
    await error_says(admin_page, f"Master {master2['masterId']} is not on shift.")
    await expect(row).to_have_attribute("data-status", "new")
    await api.call("POST", f"/api/orders/{order['id']}/status", admin["token"],
                   json={"status": "cancelled"})
    await row.get_by_role("button", name="Cancel").click()
    await error_says(admin_page, re.compile(rf"^Order {order['id']} is cancelled and cannot "
                                            r"become cancelled"))
    await expect(row).to_have_attribute("data-status", "cancelled")  # refreshed after the 409
    await screenshot(admin_page, "21-admin-error")


async def test_a_reload_keeps_the_session_and_the_state(pages: Pages, api: Api,
                                                        server: ServerProcess) -> None:
    master = await api.register("master", specializations=["reload_dryer"])
    switch = SocketSwitch()  # on all along: it records what the page sends

    async def route_sockets(page: Page) -> None:
        await page.route_web_socket(re.compile(r"/ws$"), switch.handle)

    page = await pages.open(server.url, "/master", phone=True, query=FAST, before=route_sockets)
    await login(page, master["email"], master["password"])
    await page.get_by_role("button", name="Start shift").click()
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    await api.wait_subscribed(master["masterId"])
    client = await api.register("client")
    first = await api.order(client["token"], "reload_dryer")
    await expect(page.locator(f"li.offer[data-order-id='{first['id']}']")).to_be_visible()

    seen = await page.evaluate(f"sessionStorage.getItem('dispatchwire.lastEventId.{master['id']}')")
    assert seen is not None and switch.auths == [{"type": "auth", "acks": True}]
    await page.reload()
    await expect(page.locator("#app-view")).to_be_visible()
    await expect(page.locator("#login-view")).to_be_hidden()
    await expect(page.locator("#shift-state")).to_contain_text("On shift")
    await expect(page.locator(f"li.offer[data-order-id='{first['id']}']")).to_be_visible()
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    await expect(page.locator("#offers .time")).to_have_text(re.compile(r"left to answer$"))
    # The reloaded page resumed after the newest event it had seen.
    assert switch.auths[-1] == {"type": "auth", "acks": True, "lastEventId": int(seen)}
    await expect(page.locator("#offers li.offer")).to_have_count(1)
    await page.locator("#offers li.offer").get_by_role("button", name="Decline").click()
    await expect(page.locator("#offers li.offer")).to_have_count(0)
    await expect(page.locator("#notice")).to_contain_text("goes to another master")

    # The client page and the admin page stay logged in across a reload as well.
    client_page = await pages.open(server.url, "/", phone=True)
    await login(client_page, client["email"], client["password"])
    await expect(client_page.locator(f"li.order[data-order-id='{first['id']}']")).to_be_visible()
    await client_page.reload()
    await expect(client_page.locator(f"li.order[data-order-id='{first['id']}']")).to_be_visible()
    await expect(client_page.locator("#who")).to_contain_text(client["email"])

    # A stored token the server refuses sends the page back to its login form, saying why.
    bad = json.dumps({"token": "not-a-token", "user": {"id": 1, "name": "x", "email": "x"}})
    await client_page.evaluate(f"localStorage.setItem('dispatchwire.client.session', {bad!r})")
    await client_page.reload()
    await expect(client_page.locator("#login-view")).to_be_visible()
    await error_says(client_page, "Your session has expired or is no longer valid: log in again.")

    # Logging out is kept across a reload too.
    await page.get_by_role("button", name="Log out").click()
    await expect(page.locator("#login-view")).to_be_visible()
    await page.reload()
    await expect(page.locator("#login-view")).to_be_visible()
    await expect(page.locator("#app-view")).to_be_hidden()
