"""Liveness, readiness, metrics and the API's own documentation."""

import re

import pytest

from tests.conftest import Api

CONTRACT_PATHS = {
    "/api/auth/register": {"post"},
    "/api/auth/login": {"post"},
    "/api/auth/me": {"get"},
    "/api/masters/me": {"get", "patch"},
    "/api/masters/me/shift/start": {"post"},
    "/api/masters/me/shift/end": {"post"},
    "/api/orders": {"get", "post"},
    "/api/orders/{order_id}": {"get"},
    "/api/orders/{order_id}/status": {"post"},
    "/api/assignments/pending": {"get"},
    "/api/assignments/{assignment_id}/accept": {"post"},
    "/api/assignments/{assignment_id}/reject": {"post"},
    "/api/admin/websocket/stats": {"get"},
    "/api/admin/assignments": {"post"},
    "/health": {"get"},
    "/ready": {"get"},
    "/metrics": {"get"},
}


def orders_placed(metrics_text: str) -> float:
    match = re.search(r"^dispatchwire_orders_placed_total (\S+)$", metrics_text, re.MULTILINE)
    assert match, metrics_text[:2000]
    return float(match.group(1))


async def test_health_needs_no_token(api: Api) -> None:
    response = await api.client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_checks_the_database_and_broker(api: Api) -> None:
    response = await api.client.get("/ready")
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["database"] == "ok"
    assert data["broker"] == "ok"
    assert data["status"] == "ready"


async def test_ready_is_503_when_the_database_is_gone(api: Api,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken() -> None:
        raise ConnectionError("database down")

    monkeypatch.setattr(api.ctx.db, "ping", broken)
    response = await api.client.get("/ready")
    assert response.status_code == 503
    assert response.json()["database"] != "ok"
    assert response.json()["broker"] == "ok"


async def test_metrics_are_prometheus_text_that_counts_orders(api: Api) -> None:
    response = await api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert re.search(r"^# TYPE dispatchwire_orders_placed(_total)? counter$", response.text,
                     re.MULTILINE), response.text[:2000]
    before = orders_placed(response.text)

    client = await api.register("client")
    await api.order(client)
    await api.order(client)
    after = orders_placed((await api.client.get("/metrics")).text)
    assert after == before + 2


async def test_openapi_lists_every_contract_path(api: Api) -> None:
    response = await api.client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path, methods in CONTRACT_PATHS.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))


async def test_openapi_speaks_camel_case(api: Api) -> None:
    schemas = (await api.client.get("/openapi.json")).json()["components"]["schemas"]
    order_in = next(s for name, s in schemas.items() if name.startswith("OrderIn"))
    assert "applianceType" in order_in["properties"]
    assert "appliance_type" not in order_in["properties"]


async def test_docs_serve_html(api: Api) -> None:
    response = await api.client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "openapi.json" in response.text
    assert "swagger" in response.text.lower()
