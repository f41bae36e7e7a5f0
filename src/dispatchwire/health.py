from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dispatchwire.deps import ContextDep

router = APIRouter(tags=["health"])


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
            await check()
            results[name] = "ok"
        except Exception as exc:
            results[name] = f"unreachable: {type(exc).__name__}"
    ok = all(value == "ok" for value in results.values())
    return JSONResponse({"status": "ready" if ok else "not ready", **results},
                        status_code=status.HTTP_200_OK if ok else 503)


@router.get("/metrics", response_class=Response)
async def metrics() -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
