"""Refused requests: one JSON shape (`{"detail": ...}`) and one log line each, whether FastAPI's
handlers or the fast lane answer them."""

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from dispatchwire.errors import DomainError

__all__ = ["install_error_handlers", "log_refusal", "refused"]

_refusals = logging.getLogger("dispatchwire.refused")


def log_refusal(method: str, path: str, status: int, detail: object) -> None:
    """One line per refused request, so that refusals show without an access log."""
    path = path[:200] if path.isprintable() else repr(path[:200])  # no forged log lines
    _refusals.info("refused %s %s: %d %s", method, path, status, detail)


def refused(method: str, path: str, exc: DomainError) -> tuple[int, bytes, Mapping[str, str]]:
    """A domain error as an answer (status, JSON body, headers), logged."""
    log_refusal(method, path, exc.status, exc.message)
    return exc.status, exc.json_body(), exc.headers


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]


async def _domain_error(request: Request, exc: DomainError) -> Response:
    status, body, headers = refused(request.method, request.url.path, exc)
    return Response(body, status_code=status, headers=headers, media_type="application/json")


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming each bad field; the input itself is never echoed (it may hold a password)."""
    detail = [{"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
              for error in exc.errors()]
    log_refusal(request.method, request.url.path, 422,
                "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in detail))
    return JSONResponse({"detail": detail}, status_code=422)
