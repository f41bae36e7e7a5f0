"""The pages' two catalogues agree, every key the pages name exists, and no words are left in
the HTML outside them."""

import re
from html.parser import HTMLParser

import pytest
from playwright.async_api import Browser

from tests.server import ServerProcess
from tests.web.i18n import STATIC, Catalogues, forms, leftovers, load_catalogues, placeholders

PLURAL_FORMS = {"en": {"one", "other"}, "ru": {"one", "few", "many", "other"}}  # CLDR
TEXT_ATTRIBUTES = ("placeholder", "aria-label", "title")


@pytest.fixture(scope="module")
async def catalogues(browser: Browser, server: ServerProcess) -> Catalogues:
    return await load_catalogues(browser, server.url)


def test_both_catalogues_have_the_same_keys(catalogues: Catalogues) -> None:
    en, ru = catalogues["en"], catalogues["ru"]
    assert len(en) > 150
    assert set(en) - set(ru) == set(), "in English only"
    assert set(ru) - set(en) == set(), "in Russian only"


def test_plural_forms_are_those_of_each_language(catalogues: Catalogues) -> None:
    plurals = {code: {key for key, value in catalogue.items() if isinstance(value, dict)}
               for code, catalogue in catalogues.items()}
    assert plurals["en"] == plurals["ru"] and len(plurals["en"]) >= 5
    for code, catalogue in catalogues.items():
        for key in plurals[code]:
            assert set(catalogue[key]) == PLURAL_FORMS[code], (code, key)
            for text in forms(catalogue[key]):
                assert "{count}" in text, (code, key, text)


def test_each_message_takes_the_same_parameters_in_both(catalogues: Catalogues) -> None:
    for key, value in catalogues["en"].items():
        expected = {frozenset(placeholders(text)) for text in forms(value)}
        found = {frozenset(placeholders(text)) for text in forms(catalogues["ru"][key])}
        assert found == expected, key


def test_every_key_the_pages_name_exists(catalogues: Catalogues) -> None:
    keys = set(catalogues["en"])
    areas = "|".join(sorted({key.split(".")[0] for key in keys}))
    named: set[str] = set()
    for path in STATIC.glob("*.html"):
        named |= set(re.findall(r'data-i18n(?:-[\w-]+)?="([^"]+)"', path.read_text()))
    for path in STATIC.glob("*.js"):
        if not path.name.startswith("i18n-"):
            # Any string literal shaped like a key (in t("..."), a ternary or a table).
            named |= set(re.findall(rf'"((?:{areas})\.[\w.]+)"', path.read_text()))
    assert len(named) > 100
    assert named - keys == set()


class _Words(HTMLParser):
    """Text and text attributes in the pages' HTML that no `data-i18n` attribute fills."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[dict[str, str | None]] = []
        self.loose: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in TEXT_ATTRIBUTES:
            if re.search(r"[^\W\d_]", found.get(name) or ""):
                self.loose.append(f"<{tag} {name}={found[name]!r}>")
        if tag not in ("meta", "link", "input", "br"):
            self.open.append(found)

    def handle_endtag(self, tag: str) -> None:
        if tag not in ("meta", "link", "input", "br") and self.open:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        inside = self.open[-1] if self.open else {}
        if re.search(r"[^\W\d_]", data) and "data-i18n" not in inside and "src" not in inside:
            self.loose.append(data.strip())


@pytest.mark.parametrize("page", ["index.html", "master.html", "admin.html"])
def test_no_words_are_left_in_the_html(page: str) -> None:
    words = _Words()
    words.feed((STATIC / page).read_text())
    assert words.loose == []


def test_the_check_for_the_other_language_finds_it(catalogues: Catalogues) -> None:
    screen = "Смена\nStart shift\nЗаказ №12 · Order #12\nadmin@example.com Boris Washer"
    assert leftovers(screen, catalogues, "ru") == ["Order", "Start shift"]
    assert leftovers("Shift\nНачать смену", catalogues, "en") == ["Начать смену"]
    assert leftovers("WebSocket dispatchwire Русский", catalogues, "ru") == []
    assert leftovers("Ivan Washer", catalogues, "ru", data=("Ivan Washer",)) == []
