"""Liveness, readiness, metrics and the API's own documentation."""

import asyncio
import re
import time
from pathlib import Path

from dispatchwire.health import CHECK_TIMEOUT_S
from tests.conftest import Api, fresh_database, make_settings, running_app, wait_for
from tests.pg import PostgresServer
from tests.redis import RedisServer

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


async def test_ready_is_503_when_the_database_is_gone(breakable_pg: PostgresServer) -> None:
    """PostgreSQL really stopped, not a ping replaced: /ready tells, within its bound."""
    async with running_app(make_settings(await fresh_database(breakable_pg))) as api:
        await asyncio.to_thread(breakable_pg.shut_down)
        try:
            started = time.monotonic()
            response = await api.client.get("/ready")
            took = time.monotonic() - started
        finally:
            await asyncio.to_thread(breakable_pg.start_again)
        assert response.status_code == 503
        assert response.json()["database"] != "ok"
        assert response.json()["broker"] == "ok"
        assert response.json()["detail"] == "unreachable: database"
        assert took < CHECK_TIMEOUT_S + 2
        await wait_for(lambda: _ready(api), within=10)


async def test_ready_is_503_while_redis_is_down_and_200_once_it_is_back(
        tmp_path: Path) -> None:
    redis = RedisServer().start()
    settings = make_settings(f"sqlite:///{tmp_path / 'db.sqlite'}", broker_url=redis.url)
    try:
        async with running_app(settings) as api:
            assert (await api.client.get("/ready")).status_code == 200
            redis.kill()
            started = time.monotonic()
            response = await api.client.get("/ready")
            took = time.monotonic() - started
            assert response.status_code == 503, response.text
            assert response.json()["broker"] != "ok"
            assert response.json()["database"] == "ok"
            assert response.json()["detail"] == "unreachable: broker"
            assert took < CHECK_TIMEOUT_S + 2
            assert (await api.client.get("/health")).status_code == 200  # alive all the same
            redis.start()
            await wait_for(lambda: _ready(api), within=10)
    finally:
        redis.stop()


async def _ready(api: Api) -> bool:
    return (await api.client.get("/ready")).status_code == 200


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
