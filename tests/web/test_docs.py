"""`/docs` works on a closed network: in Chromium with every host but the server's blocked,
Swagger UI (from the installed package) lists every operation of `/openapi.json`."""

from urllib.parse import urlsplit

import httpx
from playwright.async_api import Route, expect

from tests.server import ServerProcess
from tests.web.conftest import Pages, screenshot


async def test_docs_list_every_operation_offline(server: ServerProcess, pages: Pages) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        spec = (await http.get(server.url + "/openapi.json")).json()
    operations = [(method.upper(), path) for path, item in spec["paths"].items()
                  for method in item]
    assert ("POST", "/api/orders") in operations and len(operations) > 15
    own = urlsplit(server.url).netloc
    elsewhere: list[str] = []

    async def only_the_server(route: Route) -> None:
        if urlsplit(route.request.url).netloc == own:
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort("internetdisconnected")

    async def offline(page: object) -> None:
        await page.context.route("**/*", only_the_server)  # type: ignore[attr-defined]

    page = await pages.open(server.url, "/docs", before=offline)
    blocks = page.locator(".opblock-summary")
    await expect(blocks).to_have_count(len(operations), timeout=15_000)
    await expect(page.locator(".opblock-summary", has_text="/api/orders").first).to_be_visible()
    shown = await page.locator(".opblock").evaluate_all(
        "els => els.map(e => [e.querySelector('.opblock-summary-method').textContent,"
        " e.querySelector('.opblock-summary-path').getAttribute('data-path')])")
    assert sorted(map(tuple, shown)) == sorted(operations)
    await expect(page.get_by_text("dispatchwire", exact=False).first).to_be_visible()
    await screenshot(page, "docs")
    assert elsewhere == []  # nothing even tried another host


async def test_the_docs_assets_and_licence_come_from_the_server(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        page = (await http.get("/docs")).text
        assert "https://" not in page and "http://" not in page  # no other host named
        script = await http.get("/docs/swagger-ui-bundle.js")
        assert script.status_code == 200 and "SwaggerUIBundle" in script.text
        assert (await http.get("/docs/swagger-ui.css")).status_code == 200
        assert "Apache License" in (await http.get("/docs/LICENSE")).text
        missing = await http.get("/docs/..%2Fsecret")
        assert missing.status_code == 404 and "detail" in missing.json()
        assert (await http.get("/redoc")).status_code == 404  # dropped: it needed a CDN
