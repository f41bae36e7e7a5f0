"""The pages and their files are served as they should be, and stay out of the API schema."""

import pytest

from tests.web.conftest import Api


@pytest.mark.parametrize("path", ["/", "/admin", "/master"])
async def test_each_page_is_served_with_a_strict_policy(api: Api, path: str) -> None:
    response = await api.client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "connect-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-cache"
    assert '<script type="module" src="/static/' in response.text
    assert (await api.client.head(path)).status_code == 200


async def test_static_files_are_served_by_name_only(api: Api) -> None:
    module = await api.client.get("/static/socket.js")
    assert module.status_code == 200
    assert module.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "export class LiveSocket" in module.text
    for name in ["nothing.js", "..%2Fviews.py", "__init__.py"]:
        missing = await api.client.get(f"/static/{name}")
        assert missing.status_code == 404, name
        assert "detail" in missing.json()


async def test_pages_are_not_part_of_the_api_schema(api: Api) -> None:
    paths = (await api.client.get("/openapi.json")).json()["paths"]
    assert not {"/", "/admin", "/master", "/static/{name}"} & set(paths)
    assert "/api/orders" in paths
