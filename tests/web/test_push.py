"""Web Push on /master, in Chromium: the page registers its service worker at /sw.js (scope /)
and asks for nothing on load; a sentence and a button ask for the permission; once allowed, it
subscribes with the server's VAPID key and the subscription reaches the server; it can be
turned off. The page acks every offer, so an offer it shows is never pushed. With the page
closed, the server pushes the offer to a local Web Push service (tests/push/support.py), which
checks VAPID and decrypts it as a browser would; the test hands the decrypted frame to the
service worker as a push event (CDP `ServiceWorker.deliverPushMessage`, what DevTools' "Push"
button does) and reads the notifications it shows: the offer, then its end, then a status.

Chromium's own push service (Google's) is out of reach offline, and Chromium refuses Push in
its incognito-like test contexts: a stand-in (`STAND_IN`) takes the place of the browser's
`PushManager` registration, handing out a subscription of the local service and keeping the
key the page gave it. The page's code, the service worker and the server are all real.
"""

import asyncio
import json
import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from playwright.async_api import BrowserContext, CDPSession, Page, expect

from dispatchwire.push import Subscription
from tests.conftest import wait_for
from tests.push.support import WebPushService
from tests.server import ServerProcess
from tests.web.conftest import (
    ARTIFACTS,
    DESKTOP,
    FAST,
    PHONE,
    Api,
    Pages,
    login,
    screenshot,
    start_server,
)

# Stands in for the browser's push registration (see the module's docstring): subscribe()
# checks what Chromium checks and hands out the subscription the test gives it.
STAND_IN = """
(() => {
  const given = %s;
  const KEY = "test.pushSubscription";
  const b64 = (bytes) => btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  const unb64 = (text) => Uint8Array.from(atob(text.replaceAll("-", "+").replaceAll("_", "/")),
    (c) => c.charCodeAt(0));
  const make = (saved) => ({
    endpoint: saved.endpoint, expirationTime: null,
    options: { userVisibleOnly: true, applicationServerKey: unb64(saved.serverKey).buffer },
    toJSON: () => ({ endpoint: saved.endpoint, expirationTime: null,
                     keys: { p256dh: saved.p256dh, auth: saved.auth } }),
    unsubscribe: async () => { localStorage.removeItem(KEY); return true; },
  });
  PushManager.prototype.getSubscription = async function () {
    const saved = JSON.parse(localStorage.getItem(KEY) ?? "null");
    return saved && make(saved);
  };
  PushManager.prototype.subscribe = async function (options) {
    if (options?.userVisibleOnly !== true || Notification.permission !== "granted") {
      throw new DOMException("Registration failed - permission denied", "NotAllowedError");
    }
    const key = options.applicationServerKey;
    const bytes = typeof key === "string" ? unb64(key)
      : new Uint8Array(key.buffer ?? key, key.byteOffset ?? 0, key.byteLength);
    if (bytes.length !== 65 || bytes[0] !== 4) {
      throw new DOMException("not a P-256 public key", "InvalidAccessError");
    }
    const saved = { ...given, serverKey: b64(bytes) };
    localStorage.setItem(KEY, JSON.stringify(saved));
    return make(saved);
  };
})();
"""

NOTICES = """async () => {
  const registration = await navigator.serviceWorker.getRegistration("/");
  const shown = await registration.getNotifications();
  return shown.map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data }));
}"""


@pytest.fixture(scope="module")
def push_server() -> Iterator[ServerProcess]:
    running = start_server("push", **{
        "DISPATCHWIRE_PUSH_ALLOWED_HOSTS": "localhost", "DISPATCHWIRE_PUSH_AFTER_S": "1",
        "DISPATCHWIRE_UNDELIVERED_TIMEOUT_S": "0"})
    yield running
    running.stop()


@pytest.fixture
async def push_api(push_server: ServerProcess) -> AsyncIterator[Api]:
    client = Api(push_server.url)
    yield client
    await client.client.aclose()


@pytest.fixture
async def push_service(push_api: Api) -> AsyncIterator[WebPushService]:
    """The local Web Push service, checking the server's VAPID signature."""
    anyone = await push_api.register("client")
    key = (await push_api.call("GET", "/api/push/vapid-public-key", anyone["token"]))["publicKey"]
    async with WebPushService(key).running(host="localhost") as service:
        yield service


async def delivered_via(offer_id: int) -> str | None:
    """The push server's record of how the offer reached its master (no poll: that would be
    a delivery itself)."""
    with sqlite3.connect(f"file:{ARTIFACTS / 'push.db'}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT delivered_via FROM assignments WHERE id = ?",
                           (offer_id,)).fetchone()
    conn.close()
    return row[0] if row else None


async def stand_in(context: BrowserContext, subscription: Subscription) -> None:
    given = {"endpoint": subscription.endpoint, "p256dh": subscription.p256dh,
             "auth": subscription.auth}
    await context.add_init_script(STAND_IN % json.dumps(given))


async def worker_scope(page: Page) -> str | None:
    """The scope of the active service worker controlling `/`, once there is one."""
    return await page.evaluate("""async () => {
      const registration = await navigator.serviceWorker.ready;
      return registration.active && registration.active.scriptURL.endsWith("/sw.js")
        ? registration.scope : null;
    }""")


async def master_page(pages: Pages, api: Api, base: str, appliance: str,
                      subscription: Subscription, **options: Any
                      ) -> tuple[Page, dict[str, Any]]:
    """A new master of `appliance` on /master, logged in, on shift, live."""
    master = await api.register("master", specializations=[appliance])

    async def before(page: Page) -> None:
        await stand_in(page.context, subscription)

    page = await pages.open(base, "/master", query=FAST, before=before, **options)
    await login(page, master["email"], master["password"])
    await page.get_by_role("button", name="Start shift").click()
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    await api.wait_subscribed(master["masterId"])
    return page, master


async def test_the_page_asks_with_a_sentence_then_its_subscription_reaches_the_server(
        pages: Pages, push_api: Api, push_server: ServerProcess,
        push_service: WebPushService) -> None:
    subscription = push_service.subscribe()
    page, master = await master_page(pages, push_api, push_server.url, "push_washer",
                                     subscription, phone=True)
    card = page.locator("#push")
    # The worker is registered on load, from the root, and nothing is asked yet.
    assert await worker_scope(page) == f"{push_server.url}/"
    served = await push_api.client.get("/sw.js")
    assert served.headers["content-type"] == "text/javascript; charset=utf-8"
    assert served.headers["cache-control"] == "no-cache"  # a new version is picked up at once
    await expect(card).to_have_attribute("data-state", "off")
    await expect(card).to_contain_text("even while this page is closed or the screen is off")
    assert await page.evaluate("Notification.permission") == "default"
    await screenshot(page, "30-master-push-ask-phone")
    await page.set_viewport_size({"width": 1366, "height": 768})
    await screenshot(page, "31-master-push-ask-desktop")
    await page.set_viewport_size(PHONE)

    await page.context.grant_permissions(["notifications"], origin=push_server.url)
    await card.get_by_role("button", name="Turn on notifications").click()
    await expect(card).to_have_attribute("data-state", "on")
    await expect(card).to_contain_text("Notifications are on")
    saved = await push_api.call("GET", "/api/push/subscriptions", master["token"])
    assert [s["kind"] for s in saved] == ["webpush"]
    server_key = (await push_api.call("GET", "/api/push/vapid-public-key",
                                      master["token"]))["publicKey"]
    kept = json.loads(await page.evaluate("localStorage.getItem('test.pushSubscription')"))
    assert kept["serverKey"] == server_key.rstrip("=")  # subscribed with the server's key
    record = json.loads(await page.evaluate(
        f"localStorage.getItem('dispatchwire.push.{master['id']}')"))
    assert record == {"id": saved[0]["id"], "endpoint": subscription.endpoint}
    await screenshot(page, "32-master-push-on")

    # A reload finds it on, and asks nothing more.
    await page.reload()
    await expect(card).to_have_attribute("data-state", "on")
    assert len(await push_api.call("GET", "/api/push/subscriptions", master["token"])) == 1

    # The page acks the offer it shows: delivered `via: socket`, so it is never pushed.
    client = await push_api.register("client")
    order = await push_api.order(client["token"], "push_washer")
    offer = page.locator(f"li.offer[data-order-id='{order['id']}']")
    await expect(offer).to_be_visible()
    offer_id = int(await offer.get_attribute("data-assignment-id") or 0)
    assert await wait_for(lambda: delivered_via(offer_id)) == "socket"
    await asyncio.sleep(1.5)  # DISPATCHWIRE_PUSH_AFTER_S is 1
    assert push_service.hits == [] and push_service.refused == []

    await card.get_by_role("button", name="Turn off").click()
    await expect(card).to_have_attribute("data-state", "off")
    assert await push_api.call("GET", "/api/push/subscriptions", master["token"]) == []
    assert await page.evaluate("localStorage.getItem('test.pushSubscription')") is None


async def test_the_page_speaks_russian_about_notifications(
        pages: Pages, push_api: Api, push_server: ServerProcess,
        push_service: WebPushService) -> None:
    page, master = await master_page(pages, push_api, push_server.url, "push_oven",
                                push_service.subscribe(), phone=True)
    await page.goto(f"/master?{FAST}&lang=ru")  # the session stays; the words change
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    card = page.locator("#push")
    await expect(card).to_have_attribute("data-state", "off")
    await expect(card).to_contain_text("даже когда страница закрыта")
    await expect(card.get_by_role("button")).to_have_text("Включить уведомления")
    await screenshot(page, "33-master-push-ask-phone-ru")
    await page.set_viewport_size({"width": 1366, "height": 768})
    await screenshot(page, "34-master-push-ask-desktop-ru")
    # Refused in the browser's prompt: the card says where to allow them, and offers no button.
    await card.get_by_role("button").click()
    await expect(card).to_have_attribute("data-state", "blocked")
    await expect(card).to_contain_text("разрешите их в настройках сайта")
    await expect(card.get_by_role("button")).to_be_hidden()
    await screenshot(page, "35-master-push-blocked-desktop-ru")
    await page.context.grant_permissions(["notifications"], origin=push_server.url)
    await page.reload()
    await card.get_by_role("button").click()
    await expect(card).to_contain_text("Уведомления включены")
    assert len(await push_api.call("GET", "/api/push/subscriptions", master["token"])) == 1

    # Logging out: this device no longer gets the master's pushes.
    await page.get_by_role("button", name="Выйти").click()
    await expect(page.locator("#login-view")).to_be_visible()

    async def gone() -> bool:
        return await push_api.call("GET", "/api/push/subscriptions", master["token"]) == []

    await wait_for(gone)


class Worker:
    """The service worker of a context, reached through a page of the origin over CDP."""

    def __init__(self, page: Page, cdp: CDPSession, origin: str) -> None:
        self.page, self.cdp, self.origin = page, cdp, origin
        self.registration_id: str | None = None
        self.activated: set[str] = set()  # registrations with an activated version

    @classmethod
    async def of(cls, context: BrowserContext, origin: str) -> "Worker":
        page = await context.new_page()
        await page.goto("/health")  # of the origin, and no /master page in sight
        worker = cls(page, await context.new_cdp_session(page), origin)
        worker.cdp.on("ServiceWorker.workerRegistrationUpdated", worker._registrations)
        worker.cdp.on("ServiceWorker.workerVersionUpdated", worker._versions)
        await worker.cdp.send("ServiceWorker.enable")
        await wait_for(worker._registered)
        return worker

    async def _registered(self) -> bool:
        return self.registration_id is not None

    def _registrations(self, event: dict[str, Any]) -> None:
        for registration in event["registrations"]:
            if registration["scopeURL"] == f"{self.origin}/" and not registration["isDeleted"]:
                self.registration_id = registration["registrationId"]

    def _versions(self, event: dict[str, Any]) -> None:
        for version in event["versions"]:
            if version["status"] == "activated":
                self.activated.add(version["registrationId"])

    async def _active(self) -> bool:
        return self.registration_id in self.activated

    async def push(self, data: bytes) -> None:
        """Deliver a push event, as the browser does when its push service brings one, once
        the worker is active (a push to one still starting can be dropped)."""
        await wait_for(self._active)
        await self.cdp.send("ServiceWorker.deliverPushMessage", {
            "origin": self.origin, "registrationId": self.registration_id,
            "data": data.decode()})

    async def notices(self) -> list[dict[str, Any]]:
        return await self.page.evaluate(NOTICES)

    async def push_shown(self, data: bytes, check: Any) -> list[dict[str, Any]]:
        """Deliver a push, then the notifications on screen once `check(them)` holds. A push
        handed over CDP to a worker that Chromium is stopping at that moment can be lost (once,
        in a full run on a loaded machine); every push here is shown under its tag, so
        delivering it again (twice at most) replaces a notice and never adds one."""
        for attempt in range(3):
            await self.push(data)
            try:
                return await self.notices_become(check, within=10 if attempt < 2 else 15)
            except AssertionError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def notices_become(self, check: Any, within: float = 15) -> list[dict[str, Any]]:
        """The notifications on screen, once `check(them)` holds."""
        last: list[list[dict[str, Any]]] = [[]]

        async def shown() -> tuple[list[dict[str, Any]]] | None:
            last[0] = await self.notices()
            return (last[0],) if check(last[0]) else None  # a tuple: [] is an answer too

        try:
            # A worker that had stopped starts first: seconds on a loaded machine.
            return (await wait_for(shown, within=within))[0]  # type: ignore[no-any-return]
        except AssertionError as failed:
            raise AssertionError(f"{failed}; on screen: {last[0]}") from None


async def next_hit(service: WebPushService, count: int) -> dict[str, Any]:
    """The `count`-th push the local service accepted, decrypted, with its Topic."""
    async def arrived() -> bool:
        return len(service.hits) >= count

    await wait_for(arrived, within=10)
    hit = service.hits[count - 1]
    return {"frame": json.loads(hit.plaintext), "topic": hit.headers.get("topic"),
            "raw": hit.plaintext}


async def test_pushes_become_notifications_and_the_end_push_takes_the_offer_away(
        pages: Pages, push_api: Api, push_server: ServerProcess,
        push_service: WebPushService) -> None:
    subscription = push_service.subscribe()
    page, master = await master_page(pages, push_api, push_server.url, "push_fridge",
                                     subscription, viewport=DESKTOP)
    context = page.context
    await context.grant_permissions(["notifications"], origin=push_server.url)
    await page.locator("#push").get_by_role("button", name="Turn on notifications").click()
    await expect(page.locator("#push")).to_have_attribute("data-state", "on")
    worker = await Worker.of(context, push_server.url)
    await page.close()  # the master walks away: no socket, no poll; still on shift

    # The offer is pushed after DISPATCHWIRE_PUSH_AFTER_S and shown.
    client = await push_api.register("client")
    order = await push_api.order(client["token"], "push_fridge")
    offered = await next_hit(push_service, 1)
    assert offered["frame"]["type"] == "new_assignment"
    offer = offered["frame"]["assignment"]
    assert offered["topic"] == f"assignment-{offer['id']}"
    [notice] = await worker.push_shown(offered["raw"], lambda shown: len(shown) == 1)
    assert notice["tag"] == f"assignment-{offer['id']}"
    assert notice["title"] == "New offer: Push fridge"
    lines = notice["body"].split("\n")
    assert lines[:2] == ["Makes a loud noise", "7 Test Lane"]
    assert re.fullmatch(r"Answer within 1:[0-5]\d \(by \d\d:\d\d\)", lines[2])  # of 120 s
    assert notice["data"] == {"url": "/master", "kind": "offer", "assignmentId": offer["id"],
                              "orderId": order["id"]}

    # The client cancels: the offer is withdrawn, and its end is pushed under the same Topic.
    await push_api.call("POST", f"/api/orders/{order['id']}/status", client["token"],
                        json={"status": "cancelled"})
    ended = await next_hit(push_service, 2)
    assert ended["frame"]["type"] == "assignment_expired"
    assert ended["frame"]["reason"] == "withdrawn"
    assert ended["topic"] == f"assignment-{offer['id']}"
    # No /master page in sight: the offer's notice gives way to a quiet line saying so.
    [notice] = await worker.push_shown(
        ended["raw"], lambda shown: [n["data"]["kind"] for n in shown] == ["ended"])
    assert (notice["tag"], notice["title"], notice["body"]) == (
        f"assignment-{offer['id']}", f"Order #{order['id']}: offer ended", "It was withdrawn.")

    # With /master open and in sight, the end push just takes the offer's notice away.
    again = await context.new_page()
    await again.goto(f"/master?{FAST}")
    await expect(again.locator("#connection")).to_have_attribute("data-state", "live")
    await worker.push_shown(offered["raw"],
                            lambda shown: [n["data"]["kind"] for n in shown] == ["offer"])
    await worker.push_shown(ended["raw"], lambda shown: shown == [])
    await again.close()

    # A status change of his job, while he has no socket: pushed at once, shown.
    order = await push_api.order(client["token"], "push_fridge")
    offered = await next_hit(push_service, 3)
    offer = offered["frame"]["assignment"]
    await push_api.call("POST", f"/api/assignments/{offer['id']}/accept", master["token"])
    status = await next_hit(push_service, 4)
    assert status["frame"] == {"type": "order_status_update", "eventId": status["frame"]["eventId"],
                               "orderId": order["id"], "status": "assigned"}
    assert status["topic"] == f"order-{order['id']}"
    shown = await worker.push_shown(status["raw"], lambda shown: any(
        n["tag"] == f"order-{order['id']}" for n in shown))
    [mine] = [n for n in shown if n["tag"] == f"order-{order['id']}"]
    assert (mine["title"], mine["body"]) == (f"Order #{order['id']}", "Master assigned")
    assert push_service.refused == []
