"""The pages in Russian and English: no word of the other language on screen through their main
states, chosen by `?lang=` or by the browser's language, remembered, switched; plurals."""

import itertools
import re
from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, Page, expect

from tests.server import ServerProcess
from tests.web.conftest import PHONE, Api, Pages, screenshot, start_server
from tests.web.i18n import Catalogues, load_catalogues, login_any_language, shows_only

DESKTOP = {"width": 1366, "height": 768}
# The three ways a page comes to a language, and the language it must show.
MODES = {"en": ("en", {"query": "lang=en"}), "ru": ("ru", {"query": "lang=ru"}),
         "ru-RU": ("ru", {"locale": "ru-RU"})}
_seq = itertools.count(1)


@pytest.fixture(scope="module")
def i18n_server() -> Iterator[ServerProcess]:
    """A server of its own: every name, problem and address on its pages comes from here."""
    running = start_server("i18n")
    yield running
    running.stop()


@pytest.fixture
async def i18n_api(i18n_server: ServerProcess) -> AsyncIterator[Api]:
    client = Api(i18n_server.url)
    yield client
    await client.client.aclose()


@pytest.fixture(scope="module")
async def catalogues(browser: Browser, i18n_server: ServerProcess) -> Catalogues:
    return await load_catalogues(browser, i18n_server.url)


async def person(api: Api, role: str, name: str, **fields: object) -> dict:
    """A user with a name and an email that are no word of either catalogue."""
    return await api.register(role, name=name, email=f"p{next(_seq)}.{role[:2]}@example.org",
                              phone="+7 900 000-00-00", **fields)


async def both_sizes(page: Page, name: str) -> None:
    """Screenshots at a laptop's size and a phone's, then back to the phone."""
    await page.set_viewport_size(DESKTOP)
    await screenshot(page, f"{name}-1366")
    await page.set_viewport_size(PHONE)
    await screenshot(page, f"{name}-phone")


login = login_any_language


def words(lang: str, en: str, ru: str) -> str:
    return ru if lang == "ru" else en


@pytest.mark.parametrize("mode", list(MODES))
async def test_the_master_page_in_each_language(
        mode: str, pages: Pages, i18n_api: Api, i18n_server: ServerProcess,
        catalogues: Catalogues) -> None:
    lang, how = MODES[mode]
    appliance = {"en": "dishwasher", "ru": "washing_machine", "ru-RU": "oven"}[mode]
    master = await person(i18n_api, "master", "Иван Петров", specializations=[appliance])
    client = await person(i18n_api, "client", "Ольга Смирнова")
    data = ("Иван Петров", "Ольга Смирнова", master["email"], client["email"],
            "Не крутится барабан", "ул. Садовая, 5", "+7 900 000-00-00")
    query = how.get("query", "")
    page = await pages.open(i18n_server.url, "/master", phone=True, query=query,
                            locale=how.get("locale", "en-US"))
    name = f"i18n-master-{mode}"

    await shows_only(page, lang, catalogues, words(lang, "Master log in", "Вход для мастера"))
    await screenshot(page, f"{name}-1-login")
    await login(page, master["email"], master["password"])
    await page.locator("#shift-toggle").click()
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    await i18n_api.wait_subscribed(master["masterId"])
    await shows_only(page, lang, catalogues, words(lang, "On shift", "Вы на смене"),
                     words(lang, "No offers right now", "Предложений пока нет"), data=data)
    await screenshot(page, f"{name}-2-on-shift")

    order = await i18n_api.call("POST", "/api/orders", client["token"], expect_status=201, json={
        "applianceType": appliance, "problem": "Не крутится барабан", "address": "ул. Садовая, 5"})
    offer = page.locator(f"li.offer[data-order-id='{order['id']}']")
    await expect(offer.locator(".time")).to_have_text(
        re.compile(words(lang, r"^1:[45]\d left to answer$", r"^На ответ осталось 1:[45]\d$")))
    await expect(page).to_have_title(
        words(lang, "(1) New offer · Master · dispatchwire",
              "(1) Новое предложение · Мастер · dispatchwire"))
    appliance_name = {"dishwasher": "Dishwasher", "washing_machine": "Стиральная машина",
                      "oven": "Духовой шкаф"}[appliance]
    await shows_only(page, lang, catalogues, appliance_name,
                     words(lang, f"Order #{order['id']}", f"Заказ №{order['id']}"), data=data)
    await both_sizes(page, f"{name}-3-offer")

    await offer.get_by_role("button", name=words(lang, "Accept", "Принять")).click()
    job = page.locator(f"#jobs li.job[data-order-id='{order['id']}']")
    await expect(job).to_contain_text("Ольга Смирнова")
    await shows_only(page, lang, catalogues, words(lang, "Master assigned", "Мастер назначен"),
                     words(lang, "Start work", "Начать работу"),
                     words(lang, "Accepted", "Принято"), data=data)
    await both_sizes(page, f"{name}-4-job")
    await i18n_api.call("POST", "/api/masters/me/shift/end", master["token"])


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_the_client_page_in_each_language(
        lang: str, pages: Pages, i18n_api: Api, i18n_server: ServerProcess,
        catalogues: Catalogues) -> None:
    appliance = "refrigerator"  # a master with a job gets no more offers: no test takes another's
    master = await person(i18n_api, "master", "Пётр Иванов", specializations=[appliance])
    await i18n_api.call("POST", "/api/masters/me/shift/start", master["token"])
    data = ("Пётр Иванов", "Анна Кузнецова", master["email"], "Течёт вода",
            "пр. Мира, 10", "+7 900 000-00-00")
    page = await pages.open(i18n_server.url, "/", query=f"lang={lang}", viewport=DESKTOP)
    await shows_only(page, lang, catalogues,
                     words(lang, "Get your appliance repaired", "Отремонтируем вашу технику"))
    await screenshot(page, f"i18n-client-{lang}-1-login-1366")

    register = page.locator("#register-form")
    await register.get_by_label(words(lang, "Name", "Имя")).fill("Анна Кузнецова")
    email = f"anna{next(_seq)}@example.org"
    await register.get_by_label(words(lang, "Email", "Эл. почта")).fill(email)
    await register.get_by_label(words(lang, "Password", "Пароль")).fill("anna-password-1")
    await register.get_by_role("button", name=words(lang, "Create account", "Зарегистрироваться")
                               ).click()
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    form = page.locator("#order-form")
    await form.locator("select").select_option(appliance)
    await form.locator("textarea").fill("Течёт вода")
    await form.locator("input[name=address]").fill("пр. Мира, 10")
    await form.locator("button[type=submit]").click()
    card = page.locator("#orders li.order").first
    await expect(card).to_have_attribute("data-status", "new")
    await shows_only(page, lang, catalogues, words(lang, "Looking for a master", "Ищем мастера"),
                     data=(*data, email))
    order_id = int(await card.get_attribute("data-order-id") or 0)

    [offer] = await i18n_api.call("GET", "/api/assignments/pending", master["token"])
    assert offer["orderId"] == order_id
    await i18n_api.call("POST", f"/api/assignments/{offer['id']}/accept", master["token"])
    await expect(card).to_have_attribute("data-status", "assigned")
    await shows_only(page, lang, catalogues,
                     words(lang, "Пётр Иванов is coming", "Мастер Пётр Иванов едет к вам"),
                     words(lang, "Refrigerator", "Холодильник"), data=(*data, email))
    await screenshot(page, f"i18n-client-{lang}-2-assigned-1366")
    await page.set_viewport_size(PHONE)
    await screenshot(page, f"i18n-client-{lang}-2-assigned-phone")
    await i18n_api.call("POST", "/api/masters/me/shift/end", master["token"])


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_the_admin_page_in_each_language(
        lang: str, pages: Pages, i18n_api: Api, i18n_server: ServerProcess,
        catalogues: Catalogues) -> None:
    master = await person(i18n_api, "master", "Сергей Орлов", specializations=["i18n_nothing"])
    page = await pages.open(i18n_server.url, "/admin", query=f"lang={lang}&refreshS=0.5",
                            viewport=DESKTOP)
    await shows_only(page, lang, catalogues, words(lang, "Admin log in", "Вход для администратора"))
    await login(page, "admin@example.com", "admin-demo-1")
    await expect(page.locator("#app-view")).to_be_visible()

    # A master on shift with a socket: the subscriptions table has a row.
    master_page = await pages.open(i18n_server.url, "/master", phone=True, query=f"lang={lang}")
    await login(master_page, master["email"], master["password"])
    await master_page.locator("#shift-toggle").click()
    row = page.locator(f"#subscriptions tr[data-master-id='{master['masterId']}']")
    await expect(row.locator("td").nth(3)).to_have_text(words(lang, "yes", "да"))

    # A test order from the form (with the form's example text, in the page's language).
    await page.locator("#order-form button[type=submit]").click()
    notice = page.locator("#notice")
    await expect(notice).to_contain_text(words(lang, "Test order #", "Тестовый заказ №"))
    order_id = int(re.findall(r"\d+", await notice.inner_text())[0])
    order_row = page.locator(f"#orders tr[data-order-id='{order_id}']")
    await expect(order_row).to_contain_text(
        words(lang, "Drum does not spin", "Не крутится барабан"))
    await order_row.locator("select[name=masterId]").select_option(str(master["masterId"]))
    await order_row.locator("button[type=submit]").click()
    await expect(page.locator("#notice")).to_contain_text(
        words(lang, "offered to Сергей Орлов", "предложен мастеру Сергей Орлов"))
    data = ("Сергей Орлов", "Ada Admin", "admin@example.com", "Boris Washer",
            "+1 555 0100", "12 Baker St", "ул. Ленина, 12", "Drum does not spin",
            "Не крутится барабан", "Makes a loud noise", "7 Test Lane",
            "Течёт вода", "пр. Мира, 10", "Анна Кузнецова", "Ольга Смирнова", "ул. Садовая, 5",
            "Иван Петров", "Пётр Иванов", "Chen Frost", "Dana Oven", "Eve Client")
    await shows_only(page, lang, catalogues,
                     words(lang, "Looking for a master", "Ищем мастера"),
                     words(lang, "Technicians online", "Мастера на связи"),
                     words(lang, "every 0.5 s", "раз в 0,5 секунды"), data=data)
    await screenshot(page, f"i18n-admin-{lang}-1366")
    await page.set_viewport_size(PHONE)
    await screenshot(page, f"i18n-admin-{lang}-phone")
    await i18n_api.call("POST", "/api/masters/me/shift/end", master["token"])


async def test_the_choice_is_remembered_and_the_switch_works(
        pages: Pages, i18n_api: Api, i18n_server: ServerProcess) -> None:
    page = await pages.open(i18n_server.url, "/master", phone=True, query="lang=ru")
    html = page.locator("html")
    await expect(html).to_have_attribute("lang", "ru")
    await page.goto("/master")  # no parameter: the choice was remembered
    await expect(page.locator("h1")).to_have_text("Вход для мастера")
    await page.reload()
    await expect(html).to_have_attribute("lang", "ru")
    await expect(page.get_by_role("button", name="Русский")).to_have_attribute(
        "aria-pressed", "true")

    # The switch: logged in, on shift; the page comes back in English, the session kept.
    master = await person(i18n_api, "master", "Олег Соколов", specializations=["i18n_switch"])
    await login(page, master["email"], master["password"])
    await page.get_by_role("button", name="Начать смену").click()
    await expect(page.locator("#shift-state")).to_have_text(
        "Вы на смене: предложения приходят сразу.")
    await page.get_by_role("button", name="English").click()
    await expect(html).to_have_attribute("lang", "en")
    await expect(page.locator("#shift-state")).to_have_text("On shift: offers come to you live.")
    await expect(page.get_by_role("button", name="End shift")).to_be_visible()
    await page.goto("/")  # another page of the site: the same language, remembered
    await expect(page.locator("h1")).to_have_text("Get your appliance repaired")
    await page.get_by_role("button", name="Русский").click()
    await expect(page.locator("h1")).to_have_text("Отремонтируем вашу технику")
    await page.goto("/admin?lang=en")  # a parameter wins, and is remembered in its turn
    await expect(page.locator("h1")).to_have_text("Admin log in")
    await page.get_by_role("button", name="Русский").click()
    await expect(page.locator("h1")).to_have_text("Вход для администратора")
    assert page.url.endswith("/admin?lang=ru")  # the address follows the switch
    await i18n_api.call("POST", "/api/masters/me/shift/end", master["token"])


@pytest.mark.parametrize(("languages", "expected"), [
    (["de-DE", "ru", "en"], "ru"), (["fr", "en-GB", "ru-RU"], "en"), (["de", "fr"], "en"),
    (["ru-UA"], "ru")])
async def test_the_browser_languages_choose_the_first_known(
        languages: list[str], expected: str, pages: Pages, i18n_server: ServerProcess) -> None:
    async def set_languages(page: Page) -> None:
        await page.add_init_script(
            f"Object.defineProperty(navigator, 'languages', {{ get: () => {languages!r} }})")

    page = await pages.open(i18n_server.url, "/", before=set_languages)
    await expect(page.locator("html")).to_have_attribute("lang", expected)


async def test_russian_plurals(pages: Pages, i18n_server: ServerProcess) -> None:
    page = await pages.open(i18n_server.url, "/admin", query="lang=ru", timezone_id="UTC")
    await login(page, "admin@example.com", "admin-demo-1")
    refreshed = page.locator("#refreshed")
    await expect(refreshed).to_contain_text("Обновлено")
    for every, says in [(1, "раз в 1 секунду"), (2, "раз в 2 секунды"), (5, "раз в 5 секунд"),
                        (11, "раз в 11 секунд"), (21, "раз в 21 секунду"),
                        (24, "раз в 24 секунды"), (1.5, "раз в 1,5 секунды")]:
        await page.goto(f"/admin?refreshS={every}")
        await expect(refreshed).to_contain_text(f"({says})")
    offers = await page.evaluate("""async () => {
      const { t } = await import("/static/i18n.js");
      return [1, 2, 5, 12, 21, 22, 25, 101, 111]
        .map((count) => t("master.offersWaiting", { count }));
    }""")
    assert offers == [
        "1 предложение ждёт вашего ответа", "2 предложения ждут вашего ответа",
        "5 предложений ждут вашего ответа", "12 предложений ждут вашего ответа",
        "21 предложение ждёт вашего ответа", "22 предложения ждут вашего ответа",
        "25 предложений ждут вашего ответа", "101 предложение ждёт вашего ответа",
        "111 предложений ждут вашего ответа"]
    formatted = await page.evaluate("""async () => {
      const i18n = await import("/static/i18n.js");
      const now = Date.parse("2030-01-02T10:00:00Z");
      return [i18n.formatNumber(12345.5), i18n.formatAgo("2030-01-02T09:59:55Z", now),
              i18n.formatAgo("2030-01-02T09:57:00Z", now), i18n.formatList(["А", "Б", "В"]),
              i18n.formatWhen("2030-01-02T09:05:07Z", new Date(now)),
              i18n.formatWhen("2030-01-01T21:05:07Z", new Date(now))];
    }""")
    assert formatted == ["12\u00a0345,5", "5 сек. назад", "3 мин. назад", "А, Б и В",
                         "09:05:07", "01.01.2030, 21:05"]
