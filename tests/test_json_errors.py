"""Every error the server writes is JSON with a `detail` and the right status: the framework's,
the HTTP parser's and the WebSocket handshake's, over real sockets to `dispatchwire serve`."""

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dispatchwire.app import MAX_BODY_BYTES, create_app
from tests.conftest import make_settings
from tests.server import ServerProcess

WS_HEADERS = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
              "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("json-errors")
    with ServerProcess(database_url=f"sqlite:///{folder / 'db.sqlite'}",
                       env={"DISPATCHWIRE_JWT_SECRET": "j" * 48},
                       log_path=folder / "server.log") as running:
        yield running


@pytest.fixture(scope="module")
def token(server: ServerProcess) -> str:
    body = {"email": "ann@example.com", "password": "correct horse battery", "name": "Ann",
            "role": "client"}
    response = httpx.post(server.url + "/api/auth/register", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def json_error(response: httpx.Response, status: int) -> Any:
    """Assert `status` with a JSON body holding a non-empty `detail`; return the detail."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json", response.headers
    detail = response.json()["detail"]
    assert detail, response.text
    return detail


def raw_exchange(server: ServerProcess, request: bytes) -> tuple[str, dict[str, str], Any]:
    """Send bytes on a fresh connection; the status line, headers and JSON body answered."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):  # the server closes the connection after an error
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    assert headers["content-type"] == "application/json", answer
    assert int(headers["content-length"]) == len(body), answer
    return status_line, headers, json.loads(body)


def test_an_unknown_path_is_a_json_404(server: ServerProcess) -> None:
    assert json_error(httpx.get(server.url + "/api/nothing-here"), 404) == "Not Found"


def test_a_wrong_method_is_a_json_405_naming_the_allowed_ones(server: ServerProcess) -> None:
    response = httpx.delete(server.url + "/health")
    json_error(response, 405)
    assert response.headers["allow"] == "GET"


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/orders", "/api/orders/1/status"])
def test_a_body_over_the_limit_is_a_json_413(server: ServerProcess, token: str,
                                             path: str) -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    body = b'{"problem": "' + b"x" * MAX_BODY_BYTES + b'"}'
    detail = json_error(httpx.post(server.url + path, content=body, headers=headers), 413)
    assert str(MAX_BODY_BYTES) in detail

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit counts what arrives
        yield from (body[i:i + 65536] for i in range(0, len(body), 65536))

    json_error(httpx.post(server.url + path, content=chunks(), headers=headers), 413)


def test_a_body_that_is_not_json_is_a_json_422(server: ServerProcess, token: str) -> None:
    for path in ("/api/auth/login", "/api/orders"):
        response = httpx.post(server.url + path, content=b"email=a@example.com",
                              headers={"Authorization": f"Bearer {token}",
                                       "Content-Type": "text/plain"})
        detail = json_error(response, 422)
        assert detail[0]["loc"] == ["body"], detail


@pytest.mark.parametrize("request_bytes", [
    b"GARBAGE\r\n\r\n",
    b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /he alth HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost x\r\n\r\n",
    b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: many\r\n\r\n",
    b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
], ids=["no-request-line", "http-9.9", "space-in-path", "header-without-colon",
        "bad-content-length", "bad-chunk-size"])
def test_a_request_the_parser_refuses_is_a_json_400(server: ServerProcess,
                                                   request_bytes: bytes) -> None:
    status_line, headers, body = raw_exchange(server, request_bytes)
    assert status_line == "HTTP/1.1 400 Bad Request"
    assert headers["connection"] == "close"
    assert "invalid HTTP request" in body["detail"]
    assert httpx.get(server.url + "/health").status_code == 200  # and the server goes on


def handshake(path: str, **headers: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1",
             *(f"{k}: {v}" for k, v in {**WS_HEADERS, **headers}.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_refused_websocket_handshakes_are_json(server: ServerProcess) -> None:
    status_line, _, body = raw_exchange(server, handshake("/not-ws"))
    assert status_line.startswith("HTTP/1.1 404")
    assert body == {"detail": "Not Found"}
    status_line, _, body = raw_exchange(server, handshake("/ws", **{
        "Sec-WebSocket-Version": "12"}))
    assert status_line.startswith("HTTP/1.1 ") and int(status_line.split()[1]) >= 400
    assert "Sec-WebSocket-Version" in body["detail"]
    status_line, _, body = raw_exchange(server, handshake("/ws", **{
        "Sec-WebSocket-Key": "not base64!"}))
    assert status_line.startswith("HTTP/1.1 400")
    assert "Sec-WebSocket-Key" in body["detail"]


async def test_a_bug_is_a_json_500_without_its_trace(tmp_path: Path) -> None:
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'db.sqlite'}"))

    async def broken() -> None:
        raise RuntimeError("a secret in the trace")

    app.add_api_route("/broken", broken)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/broken")
    assert json_error(response, 500) == "internal server error"
    assert "secret" not in response.text
