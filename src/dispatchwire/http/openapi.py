"""The error answers of each operation, declared in the OpenAPI document.

FastAPI declares only the success and its own 422 (whose `detail` is always a list; ours is a
sentence when a rule across fields is broken). Each operation here gets the errors it can
answer, derived from what it takes: a bearer token (401, 403), an id in the path (404), a body
(413, 422), any input (422), a change (403, 404, 409), an anonymous write (401, 429: a
login), and, under /api/, the database (503 with `Retry-After`). Every error has one shape,
`Error`. tests/test_openapi_fuzz.py holds the server's answers to this document.
"""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

__all__ = ["ERROR_SCHEMA", "declare_errors"]

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {"anyOf": [
        {"type": "string", "description": "what was wrong"},
        {"type": "array", "description": "each field that does not validate",
         "items": {"type": "object", "required": ["loc", "msg", "type"], "properties": {
             "loc": {"type": "array", "items": {"anyOf": [{"type": "string"},
                                                          {"type": "integer"}]}},
             "msg": {"type": "string"},
             "type": {"type": "string"}}}},
    ]}},
}
_REF = {"$ref": "#/components/schemas/Error"}
DESCRIPTIONS = {
    401: "no valid bearer token",
    403: "the caller may not do this",
    404: "absent, or not the caller's to see",
    409: "the current state forbids it",
    413: "the body is over the size limit",
    422: "the input does not validate: `detail` names each bad field, or the rule broken",
    429: "too many attempts: slow down",
    503: ("the database is out of reach, or (placing an order) the server is overloaded: try"
          " again after `Retry-After` seconds"),
}
_WRITES = {"post", "put", "patch", "delete"}


def declare_errors(app: FastAPI) -> None:
    """Make `app.openapi()` declare every operation's error answers."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        document.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        for path, operations in document.get("paths", {}).items():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                for status in sorted(_statuses(path, method, operation)):
                    responses[str(status)] = _response(status)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _statuses(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    parameters = operation.get("parameters", [])
    statuses = {503} if path.startswith("/api/") else set()
    if parameters or "requestBody" in operation:
        statuses.add(422)
    if any(p.get("in") == "path" for p in parameters):
        statuses.add(404)
    if "requestBody" in operation:
        statuses.add(413)
    if operation.get("security"):
        statuses |= {401, 403}
    if method in _WRITES:
        statuses |= {403, 404, 409} if operation.get("security") else {401, 403, 409, 429}
    return statuses


def _response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {"description": DESCRIPTIONS[status],
                                "content": {"application/json": {"schema": _REF}}}
    if status == 503:
        response["headers"] = {"Retry-After": {
            "description": "seconds to wait before trying again", "required": True,
            "schema": {"type": "string"}}}
    return response
