import asyncio

from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dispatchwire.deps import ContextDep

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_S = 3.0  # a dependency that hangs is as unready as one that refuses


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"description": "a dependency is unreachable"}})
async def ready(ctx: ContextDep) -> JSONResponse:
    """Readiness: the database and the broker answer."""
    checks = {"database": ctx.db.ping, "broker": ctx.broker.ping}
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                await check()
            results[name] = "ok"
        except Exception as exc:
            results[name] = f"unreachable: {type(exc).__name__}"
    down = [name for name, value in results.items() if value != "ok"]
    if not down:
        return JSONResponse({"status": "ready", **results})
    return JSONResponse({"status": "not ready", **results,
                         "detail": f"unreachable: {', '.join(down)}"},
                        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers={"Retry-After": "5"})


@router.get("/metrics", response_class=Response)
async def metrics() -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
