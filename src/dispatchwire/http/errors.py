"""Refused requests: one JSON shape (`{"detail": ...}`) and one log line each, whether FastAPI's
handlers, the fast lane or the middleware of `json_errors` answer them; a bug is a JSON 500
without its trace (which stays in the log)."""

import logging
from collections.abc import Mapping
from typing import cast

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from dispatchwire.errors import DomainError

__all__ = ["INTERNAL_ERROR", "http_error", "install_error_handlers", "internal_error",
           "log_refusal", "refused"]

_refusals = logging.getLogger("dispatchwire.refused")
INTERNAL_ERROR = "internal server error"  # a bug's `detail`: what went wrong stays in the log


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
    app.add_exception_handler(HTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, internal_error)


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


async def http_error(request: Request, exc: HTTPException) -> Response:
    """FastAPI's and Starlette's own refusals (404, 405, 413, ...), JSON and logged."""
    status, detail = exc.status_code, cast(object, exc.detail)
    if status == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        # FastAPI's 400 for a body that is not UTF-8: a 422 naming the body, like any other
        # body that is not JSON.
        status, detail = 422, [{"loc": ["body"], "msg": "the body is not UTF-8 JSON",
                                "type": "json_invalid"}]
    log_refusal(request.method, request.url.path, status, detail)
    return Response(orjson.dumps({"detail": detail}), status_code=status,
                    headers=exc.headers, media_type="application/json")


async def internal_error(request: Request, exc: Exception) -> Response:
    """A bug: 500 in JSON; the trace goes to the log (the server logs it), never to the client."""
    return Response(orjson.dumps({"detail": INTERNAL_ERROR}), status_code=500,
                    media_type="application/json")
