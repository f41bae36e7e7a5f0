"""The dispatch board (/admin) in a real browser: orders that need a human appear live, an
order's timeline reads as a person would tell it, masters are approved, deactivated and given
their repairs from the page, a manual offer is made by choosing a master, today's figures and
their chart match the API; in English and Russian, with screenshots at 1366x768 and a phone's
size."""

import itertools
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tests.server import ServerProcess
from tests.web.conftest import PHONE, Api, Pages, login, screenshot, start_server
from tests.web.i18n import Catalogues, load_catalogues, login_any_language, screen_text, shows_only

DESKTOP = {"width": 1366, "height": 768}
FAST = "refreshS=0.5&figuresS=0.5"
ADDRESS = {"lat": 55.7520, "lon": 37.6175}
NEAR = {"lat": 55.7700, "lon": 37.5900}  # about 2.7 km from ADDRESS
# Protocol words that must not reach a dispatcher's eyes.
JARGON = ("socket", "ping", "subscri", "pending", "escalat", "undelivered", "assignment", "null")
_seq = itertools.count(1)


@pytest.fixture(scope="module")
def board_server() -> Iterator[ServerProcess]:
    """A server of its own, with masters vetted and short escalation and delivery timings."""
    running = start_server(
        "board", DISPATCHWIRE_MASTERS_NEED_APPROVAL="true", DISPATCHWIRE_ESCALATE_WAIT_S="3",
        DISPATCHWIRE_ESCALATE_AFTER="2", DISPATCHWIRE_UNDELIVERED_TIMEOUT_S="3")
    yield running
    running.stop()


@pytest.fixture
async def board_api(board_server: ServerProcess) -> AsyncIterator[Api]:
    client = Api(board_server.url)
    yield client
    await client.client.aclose()


@pytest.fixture(scope="module")
async def catalogues(browser: Browser, board_server: ServerProcess) -> Catalogues:
    return await load_catalogues(browser, board_server.url)


async def admin_token(api: Api) -> str:
    return (await api.login("admin@example.com", "admin-demo-1"))["token"]


async def make_master(api: Api, name: str, types: list[str], **location: float) -> dict[str, Any]:
    """An approved master made by the admin, logged in, with his position when given."""
    n = next(_seq)
    body = {"email": f"b{n}.master@example.org", "password": f"master-password-{n}",
            "name": name, "phone": "+7 900 000-00-00", "specializations": types}
    made = await api.call("POST", "/api/admin/masters", await admin_token(api), json=body,
                          expect_status=201)
    master = {**made, **await api.login(body["email"], body["password"]),
              "password": body["password"]}
    if location:
        await api.call("PATCH", "/api/masters/me", master["token"], json=location)
    return master


async def client(api: Api, name: str) -> dict[str, Any]:
    return await api.register("client", name=name, email=f"c{next(_seq)}.board@example.org")


async def place(api: Api, who: dict[str, Any], kind: str, **location: float) -> dict[str, Any]:
    return await api.call("POST", "/api/orders", who["token"], expect_status=201, json={
        "applianceType": kind, "problem": "Не сушит", "address": "ул. Тверская, 7", **location})


async def open_board(pages: Pages, server: ServerProcess, query: str = FAST,
                     **options: Any) -> Page:
    page = await pages.open(server.url, "/admin", query=query, viewport=DESKTOP, **options)
    await login_any_language(page, "admin@example.com", "admin-demo-1")
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    return page


async def master_on_page(pages: Pages, server: ServerProcess, master: dict[str, Any]) -> Page:
    """The master's own page, on shift, subscribed: his offers arrive live and are acked."""
    page = await pages.open(server.url, "/master", phone=True, query="lang=en")
    await login(page, master["email"], master["password"])
    await page.get_by_role("button", name="Start shift").click()
    await expect(page.locator("#shift-state")).to_contain_text("On shift")
    return page


async def rendered_texts(items: Locator) -> list[str]:
    """The items' texts as shown. Playwright finds the items and reads them in two calls; a
    refresh between them (the open timeline is read again every 0.5 s here) leaves it reading
    detached items, whose innerText has no line breaks: then read them again."""
    for _ in range(20):
        texts = await items.evaluate_all(
            "items => items.every((item) => item.isConnected) ? items.map((item) => item.innerText)"
            " : null")
        if texts is not None:
            return cast(list[str], texts)
    raise AssertionError("the items were replaced on every read")


async def in_order(items: Locator, expected: list[str | re.Pattern[str]]) -> list[str]:
    """The items' texts hold `expected`, one after the other (others may come between)."""
    texts = await rendered_texts(items)
    at = 0
    for want in expected:
        while at < len(texts) and not (want.search(texts[at]) if isinstance(want, re.Pattern)
                                       else want in texts[at]):
            at += 1
        assert at < len(texts), f"{want!r} missing, or out of order, in {texts}"
        at += 1
    return texts


async def test_an_escalated_order_appears_live_with_its_reason(
        pages: Pages, board_api: Api, board_server: ServerProcess) -> None:
    # The page reads the API only once a minute here: what appears within seconds came over
    # the admin's socket (`order_needs_attention`).
    page = await open_board(pages, board_server, query="refreshS=60&figuresS=60&lang=en")
    await make_master(board_api, "Ivan Offshift", ["live_dryer"])  # declares it, never on shift
    order = await place(board_api, await client(board_api, "Нина Ждущая"), "live_dryer")
    card = page.locator(f"#attention li[data-order-id='{order['id']}']")
    await expect(card).to_have_count(0)
    await expect(card).to_be_visible(timeout=10_000)
    await expect(card.locator(".reason[data-reason=waiting]")).to_have_text(
        re.compile(r"^Waiting too long: \d+(\.\d)? sec without a technician$"))
    await expect(card.locator(".why")).to_have_text(
        "Waits: the 1 technician who repairs it is not on shift.")
    await expect(page.locator("#notice")).to_have_text(
        f"Order #{order['id']} needs attention: it has waited too long.")
    await expect(page.locator("#attention-count")).not_to_have_text("0")

    # No master declares a type at all: escalated at once, in the words of its reason.
    nobody = await place(board_api, await client(board_api, "Нина Ждущая"), "nobody_fixes_this")
    lonely = page.locator(f"#attention li[data-order-id='{nobody['id']}']")
    await expect(lonely.locator(".reason[data-reason=no_master]")).to_have_text(
        "No technician repairs this appliance")
    await expect(lonely.locator(".why")).to_contain_text("no technician repairs this appliance")
    await screenshot(page, "board-attention-live-1366")


async def test_the_timeline_tells_why_each_master_and_what_happened(
        pages: Pages, board_api: Api, board_server: ServerProcess) -> None:
    olga = await make_master(board_api, "Olga Dryer", ["tl_dryer"], **NEAR)
    pavel = await make_master(board_api, "Pavel Kettle", ["tl_dryer"])
    olga_page = await master_on_page(pages, board_server, olga)
    await board_api.wait_subscribed(olga["masterId"])
    await board_api.call("POST", "/api/masters/me/shift/start", pavel["token"])  # no app open
    board = await open_board(pages, board_server, query=f"{FAST}&lang=en")

    # Olga is live on the app: the order goes to her first; she declines on her phone.
    order = await place(board_api, await client(board_api, "Нина Клиентова"), "tl_dryer",
                        **ADDRESS)
    offer = olga_page.locator(f"li.offer[data-order-id='{order['id']}']")
    await offer.get_by_role("button", name="Decline").click()
    # Pavel never opens his app: the offer never reaches him, and ends undelivered. Two
    # masters refused it: the order needs a human.
    card = board.locator(f"#attention li[data-order-id='{order['id']}']")
    await expect(card.locator(".reason[data-reason=declined]")).to_have_text(
        "2 technicians declined it or let it run out", timeout=10_000)

    # The dispatcher offers it to Olga again, by choosing her from the list.
    choice = card.locator("select[name=masterId]")
    ready = choice.locator("optgroup[data-group=ready] option")
    await expect(ready.first).to_have_text("Olga Dryer · online")  # those online first
    await expect(choice.locator(f"option[value='{pavel['masterId']}']")).to_have_text(
        "Pavel Kettle · app offline")
    await choice.select_option(str(olga["masterId"]))
    await card.get_by_role("button", name="Offer").click()
    await expect(board.locator("#notice")).to_have_text(
        f"Order #{order['id']} offered to Olga Dryer.")
    holder = card.locator(f".holder[data-master-id='{olga['masterId']}']")
    await expect(holder.locator(".holder-name")).to_have_text("Offered to Olga Dryer")
    await expect(holder.locator(".holder-time")).to_have_text(
        re.compile(r"^[0-4]:\d\d left \(until \d\d:\d\d:\d\d\)$"))
    await olga_page.locator(f"li.offer[data-order-id='{order['id']}']").get_by_role(
        "button", name="Accept").click()
    await expect(card).to_have_count(0)  # assigned: no longer waiting

    # The timeline, from the orders' table: who, why, what happened, in words.
    await board.locator(f"#orders tr[data-order-id='{order['id']}'] .order-link").click()
    dialog = board.locator("#timeline-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("#timeline-title")).to_have_text(
        f"Order #{order['id']} · Tl dryer")
    steps = dialog.locator(".timeline .step")
    await expect(steps.last).to_contain_text("Assigned to Olga Dryer")
    texts = await in_order(steps, [
        "Placed by Нина Клиентова",
        re.compile(r"^\d\d:\d\d:\d\d\s+Offered to Olga Dryer: live on the app, 2\.\d km away,"
                   r" idle since \d\d:\d\d \(first choice\)$"),
        "Sent to the app of Olga Dryer",
        "Delivered to the phone (app confirmed)",
        "Declined by Olga Dryer",
        re.compile(r"Offered to Pavel Kettle: not on the app, idle since \d\d:\d\d \(first"
                   r" choice\)$"),
        "Expired: the phone could not be reached",
        "Needs attention: too many technicians declined it or let it run out",
        "Offered to Olga Dryer by hand, by Ada Admin",
        "Delivered to the phone (app confirmed)",
        "Accepted by Olga Dryer",
        "Assigned to Olga Dryer",
    ])
    assert not [text for text in texts if "technician #" in text], texts  # names, not ids
    today = datetime.now(UTC)
    await expect(dialog.locator(".timeline .day").first).to_contain_text(str(today.year))
    await screenshot(board, "board-timeline-1366", full_page=False)
    await board.set_viewport_size(PHONE)
    await screenshot(board, "board-timeline-phone", full_page=False)
    await dialog.get_by_role("button", name="Close").click()
    await expect(dialog).to_be_hidden()
    await board_api.call("POST", "/api/masters/me/shift/end", pavel["token"])


async def test_masters_are_approved_deactivated_and_given_their_repairs(
        pages: Pages, board_api: Api, board_server: ServerProcess) -> None:
    rita = await board_api.register("master", name="Rita Newcomer", specializations=["mixer"])
    await board_api.call("POST", "/api/masters/me/shift/start", rita["token"], expect_status=403)
    page = await open_board(pages, board_server, query=f"{FAST}&lang=en")
    row = page.locator(f"#masters tr[data-master-id='{rita['masterId']}']")
    await expect(row.locator(".state-badge")).to_have_text("waiting for approval")
    await expect(row.locator(".repairs-cell")).to_have_text("Mixer")

    await row.get_by_role("button", name="Approve").click()
    await expect(page.locator("#notice")).to_have_text(
        "Rita Newcomer is approved: he can start a shift now.")
    await expect(row.locator(".state-badge")).to_have_text("off shift")
    await expect(row.get_by_role("button", name="Approve")).to_have_count(0)
    assert await board_api.call("POST", "/api/masters/me/shift/start", rita["token"]) == {
        "onShift": True}
    await expect(row.locator(".state-badge")).to_have_text("on shift, free")

    # What he repairs: chosen from the appliance types, and one typed in.
    await row.get_by_role("button", name="Change repairs").click()
    editor = page.locator(f"#masters tr[data-editor-of='{rita['masterId']}']")
    await editor.get_by_label("Mixer").uncheck()
    await editor.get_by_label("Oven").check()
    await editor.get_by_label(re.compile("^Another type")).fill("toaster")
    await editor.get_by_role("button", name="Save").click()
    await expect(page.locator("#notice")).to_have_text("Saved what Rita Newcomer repairs.")
    await expect(editor).to_have_count(0)
    await expect(row.locator(".repairs-cell")).to_have_text("Oven and Toaster")
    profile = await board_api.call("GET", "/api/masters/me", rita["token"])
    assert profile["specializations"] == ["oven", "toaster"]

    # Deactivated (a second click confirms): off shift, his login refused.
    deactivate = row.get_by_role("button", name="Deactivate")
    await deactivate.click()
    await expect(deactivate).to_have_text("Click again to deactivate")
    await deactivate.click()
    await expect(page.locator("#notice")).to_contain_text("Rita Newcomer is deactivated")
    await expect(row.locator(".state-badge")).to_have_text("deactivated")
    await board_api.call("POST", "/api/auth/login", expect_status=403,
                         json={"email": rita["email"], "password": rita["password"]})
    await screenshot(page, "board-masters-1366")
    await row.get_by_role("button", name="Reactivate").click()
    await expect(row.locator(".state-badge")).to_have_text("off shift")
    await board_api.login(rita["email"], rita["password"])

    # A new technician, made from the page: approved, he can start a shift at once.
    await page.get_by_text("Add a technician").click()
    form = page.locator("#master-form")
    await form.get_by_label("Name", exact=True).fill("Sam Fresh")
    await form.get_by_label("Email").fill("sam.fresh@example.org")
    await form.get_by_label("Phone").fill("+1 555 0177")
    await form.get_by_label("Password").fill("sam-password-1")
    await form.get_by_label("Refrigerator").check()
    await form.get_by_role("button", name="Add technician").click()
    await expect(page.locator("#notice")).to_have_text(
        "Sam Fresh is added and approved: he can log in and start a shift.")
    sam_row = page.locator("#masters tr", has_text="sam.fresh@example.org")
    await expect(sam_row.locator(".repairs-cell")).to_have_text("Refrigerator")
    sam = await board_api.login("sam.fresh@example.org", "sam-password-1")
    await board_api.call("POST", "/api/masters/me/shift/start", sam["token"])
    await expect(sam_row.locator(".state-badge")).to_have_text("on shift, free")
    await board_api.call("POST", "/api/masters/me/shift/end", sam["token"])


async def test_todays_figures_and_chart_match_the_api(
        pages: Pages, board_api: Api, board_server: ServerProcess) -> None:
    # Two orders taken today, each at once by a master answering from his app.
    master = await make_master(board_api, "Fast Fixer", ["fig_kettle"])
    await board_api.call("POST", "/api/masters/me/shift/start", master["token"])
    who = await client(board_api, "Нина Считающая")
    for _ in range(2):
        order = await place(board_api, who, "fig_kettle")
        [offer] = await board_api.call("GET", "/api/assignments/pending", master["token"])
        assert offer["orderId"] == order["id"]
        await board_api.call("POST", f"/api/assignments/{offer['id']}/accept", master["token"])
        for status in ("in_progress", "completed"):
            await board_api.call("POST", f"/api/orders/{order['id']}/status", master["token"],
                                 json={"status": status})
    await board_api.call("POST", "/api/masters/me/shift/end", master["token"])

    page = await open_board(pages, board_server, query=f"{FAST}&lang=en", timezone_id="UTC")
    since = datetime.now(UTC).strftime("%Y-%m-%dT00:00:00.000Z")
    token = await admin_token(board_api)
    stats = await board_api.call("GET", f"/api/admin/dispatch/stats?since={since}", token)
    histogram = await board_api.call("GET", f"/api/admin/dispatch/accept-times?since={since}",
                                     token)
    assert stats["ordersAssigned"] >= 2 and stats["offers"]["accepted"] >= 2
    await expect(page.locator("[data-figure=ordersPlaced]")).to_have_text(
        str(stats["ordersPlaced"]))
    await expect(page.locator("[data-figure=ordersAssigned]")).to_have_text(
        str(stats["ordersAssigned"]))
    for key in ("p50", "p90", "max"):
        await expect(page.locator(f"[data-figure={key}]")).to_have_text(
            re.compile(r"^\d+(\.\d)? sec$|^\d+ min( \d+ sec)?$"))
    for outcome in ("made", "accepted", "rejected", "expired", "undelivered", "withdrawn"):
        await expect(page.locator(f"#offer-outcomes li[data-outcome={outcome}] .n")).to_have_text(
            str(stats["offers"][outcome]))
    bars = page.locator("#accept-chart .bucket")
    await expect(bars).to_have_count(len(histogram["buckets"]))
    for bar, bucket in zip(await bars.all(), histogram["buckets"], strict=True):
        await expect(bar).to_have_attribute("data-count", str(bucket["count"]))
    assert sum(bucket["count"] for bucket in histogram["buckets"]) == stats["ordersAssigned"]
    await expect(bars.first.locator(".label")).to_have_text("≤ 5s")
    await expect(bars.last.locator(".label")).to_have_text("longer")
    chart = page.locator("#accept-chart svg")
    await expect(chart).to_have_attribute(
        "aria-label", f"Time to accept of {stats['ordersAssigned']} orders, as bars")

    # The master's own figures, today, in his row.
    row = page.locator(f"#masters tr[data-master-id='{master['masterId']}']")
    await expect(row.locator(".fig-offers")).to_have_text("2")
    await expect(row.locator(".fig-accepted")).to_have_text("2")
    await expect(row.locator(".fig-rejected")).to_have_text("0")
    await expect(row.locator(".fig-median")).to_have_text(re.compile(r"^\d+(\.\d)? sec$"))
    await expect(row.locator(".presence")).to_have_text(re.compile(r"^last seen \d+ sec\. ago$"))
    await screenshot(page, "board-figures-1366")


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_the_board_in_each_language(
        lang: str, pages: Pages, board_api: Api, board_server: ServerProcess,
        catalogues: Catalogues) -> None:
    kind = f"lang_{lang}_dryer"
    holder = await make_master(board_api, "Пётр Сушкин", [kind])
    await board_api.call("POST", "/api/masters/me/shift/start", holder["token"])
    newcomer = await board_api.register("master", name="Фёдор Новичков", specializations=[kind])
    who = await client(board_api, "Анна Языкова")
    held = await place(board_api, who, kind)  # offered to the master on shift
    await board_api.call("GET", "/api/assignments/pending", holder["token"])  # reached him
    waiting = await place(board_api, who, kind)  # he holds an offer: this one waits
    alone = await place(board_api, who, f"lang_{lang}_nobody")  # no one repairs it
    page = await open_board(pages, board_server, query=f"{FAST}&lang={lang}")
    await expect(page.locator(f"li[data-order-id='{held['id']}'] .holder")).to_be_visible()
    await expect(page.locator(f"li[data-order-id='{waiting['id']}'] .why")).to_be_visible()
    await expect(page.locator(f"#attention li[data-order-id='{alone['id']}']")).to_be_visible()
    await expect(page.locator(f"#masters tr[data-master-id='{newcomer['masterId']}']")
                 ).to_be_visible()
    data = ("Пётр Сушкин", "Фёдор Новичков", "Анна Языкова", "Нина Ждущая", "Нина Клиентова",
            "Нина Считающая", "Не сушит", "ул. Тверская, 7", "Ada Admin", "admin@example.com",
            "Boris Washer", "Chen Frost", "Dana Oven", "Olga Dryer", "Pavel Kettle",
            "Ivan Offshift", "Rita Newcomer", "Sam Fresh", "Fast Fixer", "Eve Client",
            "+1 555 0100", "+1 555 0177", "Drum does not spin", "12 Baker St")
    # Appliance types only these tests made: their names are data, as typed.
    types = tuple(re.sub(r"^(\w)", lambda m: m.group(1).upper(), t.replace("_", " "))
                  for t in ("live_dryer", "nobody_fixes_this", "tl_dryer", "fig_kettle", "mixer",
                            "toaster", kind, f"lang_{lang}_nobody"))
    words = {"en": ("Needs attention", "Waiting for a technician", "Technicians online",
                    "Offers today, by how they ended", "waiting for approval"),
             "ru": ("Требуют внимания", "Ждут мастера", "Мастера на связи",
                    "Предложения сегодня: чем закончились", "ждёт одобрения")}[lang]
    await shows_only(page, lang, catalogues, *words, data=data + types)
    if lang == "en":
        screen = (await screen_text(page)).lower()
        for name in data + types:
            screen = screen.replace(name.lower(), " ")
        assert not [word for word in JARGON if word in screen], screen
    await screenshot(page, f"board-{lang}-1366")
    await page.set_viewport_size(PHONE)
    await screenshot(page, f"board-{lang}-phone")

    await page.set_viewport_size(DESKTOP)
    await page.locator(f"li[data-order-id='{held['id']}'] .order-link").click()
    steps = page.locator("#timeline-dialog .timeline .step")
    await expect(steps.nth(1)).to_contain_text("Пётр Сушкин")
    await shows_only(page, lang, catalogues, {"en": "Placed by", "ru": "Создан, клиент"}[lang],
                     data=data + types)
    await screenshot(page, f"board-{lang}-timeline-1366", full_page=False)
    await board_api.call("POST", "/api/masters/me/shift/end", holder["token"])


STEPS = [  # steps no scenario above makes, as the API gives them
    {"kind": "pushed", "at": "2030-01-02T10:00:00Z", "assignmentId": 7, "masterId": 1,
     "detail": {"result": "ok", "push": "offer", "kind": "webpush"}},
    {"kind": "pushed", "at": "2030-01-02T10:00:00Z", "assignmentId": 7, "masterId": 1,
     "detail": {"result": "ok", "push": "offer", "kind": "fcm"}},
    {"kind": "pushed", "at": "2030-01-02T10:00:01Z", "assignmentId": 7, "masterId": 1,
     "detail": {"result": "gone", "push": "offer"}},
    {"kind": "pushed", "at": "2030-01-02T10:00:02Z", "assignmentId": 7, "masterId": 1,
     "detail": {"result": "retry", "push": "offer", "kind": "webpush"}},
    {"kind": "delivered", "at": "2030-01-02T10:00:03Z", "assignmentId": 7, "masterId": 1,
     "detail": {"via": "pong"}},
    {"kind": "expired", "at": "2030-01-02T10:05:00Z", "assignmentId": 7, "masterId": 1,
     "detail": {"reason": "timeout"}},
    {"kind": "pushed", "at": "2030-01-02T10:05:00Z", "assignmentId": 7, "masterId": 1,
     "detail": {"result": "ok", "push": "offer_end", "kind": "webpush"}},
    {"kind": "offered", "at": "2030-01-02T10:05:00Z", "assignmentId": 8, "masterId": 2,
     "detail": {"how": "free", "live": True, "rank": None, "distanceKm": 0.35,
                "idleSince": "2030-01-01T21:05:07Z", "slot": 0}},
    {"kind": "expired", "at": "2030-01-02T10:05:01Z", "assignmentId": 9, "masterId": 3,
     "detail": {"reason": "taken"}},
    {"kind": "expired", "at": "2030-01-02T10:05:01Z", "assignmentId": 10, "masterId": 4,
     "detail": {"reason": "withdrawn"}},
    {"kind": "escalated", "at": "2030-01-02T10:10:00Z", "detail": {"reason": "no_master"}},
    {"kind": "status", "at": "2030-01-02T11:00:00Z", "detail": {"status": "cancelled", "by": 50}},
    {"kind": "message", "at": "2030-01-02T11:00:00Z",
     "detail": {"messageId": 1, "authorId": 50, "authorRole": "client"}},
    {"kind": "pushed", "at": "2030-01-02T11:00:00Z",
     "detail": {"result": "ok", "push": "status", "kind": "webpush"}},
]


async def test_every_kind_of_step_reads_in_words(pages: Pages,
                                                 board_server: ServerProcess) -> None:
    page = await pages.open(board_server.url, "/admin", query="lang=en", timezone_id="UTC")
    said = await page.evaluate("""async (steps) => {
      const { describeStep, groupPushes } = await import("/static/admin-timeline.js");
      const names = { master: (id) => ["", "Boris Washer", "Chen Frost", "Dana Oven", "Ivan"][id],
                      user: (id) => (id === 50 ? "Eve Client" : "someone") };
      return groupPushes(steps).map((step) => describeStep(step, names));
    }""", STEPS)
    assert said == [
        "Pushed to 2 devices",  # one step per device, recorded together: read as one
        "Push: 1 device no longer exists and is forgotten",
        "Push to 1 device failed; trying again",
        "Delivered to the phone (the connection confirmed it)",
        "Expired: Boris Washer did not answer in time",
        "The offer's notice taken off 1 device",
        "Offered to Chen Frost as soon as he became free: live on the app, 350 m away,"
        " idle since Jan 1, 21:05",  # another day than the step's: with its date
        "The offer to Dana Oven ended: another technician took the order",
        "Withdrawn from Ivan",
        "Needs attention: no technician repairs this appliance",
        "Status: Cancelled (by Eve Client)",
        "Message from the client",
        "Status change pushed to 1 device",
    ]
