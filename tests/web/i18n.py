"""Helpers for the language tests: the pages' catalogues as the browser loads them, and what
a screen shows of the other language."""

import re
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, expect

STATIC = Path(__file__).parents[2] / "src" / "dispatchwire" / "web" / "static"
LANGUAGES = ("en", "ru")
Catalogues = dict[str, dict[str, Any]]

# The text a person sees: the body's rendered text, the tab's title, and the words of visible
# elements that live in attributes (a placeholder, a tooltip, a screen reader's label).
SCREEN_TEXT = """() => {
  const parts = [document.title, document.body.innerText];
  for (const node of document.querySelectorAll("[placeholder], [aria-label], [title]")) {
    if (!node.checkVisibility()) continue;
    for (const name of ["placeholder", "aria-label", "title"]) {
      if (node.hasAttribute(name)) parts.push(node.getAttribute(name));
    }
  }
  return parts.join("\\n");
}"""


async def load_catalogues(browser: Browser, base: str) -> Catalogues:
    """The two catalogues, imported by a page as the pages import them."""
    context = await browser.new_context(base_url=base)
    try:
        page = await context.new_page()
        await page.goto("/static/icon.svg")  # any page of the origin: the CSP allows 'self'
        return await page.evaluate("""async () => ({
          en: (await import("/static/i18n-en.js")).default,
          ru: (await import("/static/i18n-ru.js")).default,
        })""")
    finally:
        await context.close()


def forms(value: str | dict[str, str]) -> list[str]:
    """A message's texts: itself, or each of its plural forms."""
    return list(value.values()) if isinstance(value, dict) else [value]


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def fragments(catalogues: Catalogues, of: str) -> set[str]:
    """The words of language `of` that must never show on a screen in the other language: each
    message's text between its placeholders, trimmed, longer than 3 characters, and found in no
    message of the other language (names such as "dispatchwire" or "WebSocket" are in both)."""
    other = next(code for code in LANGUAGES if code != of)
    theirs = "\n".join(text for value in catalogues[other].values() for text in forms(value))
    found = set()
    for value in catalogues[of].values():
        for text in forms(value):
            for piece in re.split(r"\{\w+\}", text):
                piece = piece.strip(" ·:;,.()#№…")
                if len(piece) > 3 and piece not in theirs:
                    found.add(piece)
    return found


def leftovers(screen: str, catalogues: Catalogues, shown: str, data: tuple[str, ...] = ()
              ) -> list[str]:
    """The other language's words on a screen in `shown`, after removing the `data` (names,
    emails, addresses: what people typed, in whatever language)."""
    for datum in data:
        screen = screen.replace(datum, " ")
    other = next(code for code in LANGUAGES if code != shown)
    return sorted(piece for piece in fragments(catalogues, other)
                  if re.search(rf"(?<![^\W\d_]){re.escape(piece)}(?![^\W\d_])", screen))


async def screen_text(page: Page) -> str:
    return await page.evaluate(SCREEN_TEXT)


async def shows_only(page: Page, lang: str, catalogues: Catalogues, *expected: str,
                     data: tuple[str, ...] = ()) -> None:
    """The page is in `lang`: `expected` on screen, and no word of the other language."""
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    for text in expected:
        await expect(page.locator("body")).to_contain_text(text)
    screen = await screen_text(page)
    assert leftovers(screen, catalogues, lang, data) == [], screen


async def login_any_language(page: Page, email: str, password: str) -> None:
    """Log in, whatever the page's language (conftest's `login` finds English labels)."""
    form = page.locator("#login-form")
    await form.locator("input[name=email]").fill(email)
    await form.locator("input[name=password]").fill(password)
    await form.locator("button[type=submit]").click()
