"""Property-based run of the OpenAPI document against a real server (Schemathesis).

Every operation the document lists is called with values generated from its schemas, valid
ones and invalid ones, as each role and anonymously: no answer is a 500, and each answer's
status, content type, headers and body are those the document declares. Derandomized and
seeded (`DISPATCHWIRE_FUZZ_SEED`), a few hundred requests in all, bounded in time.
"""

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.failures import FailureGroup

from tests.server import ServerProcess

SEED = int(os.environ.get("DISPATCHWIRE_FUZZ_SEED", "20240611"))
EXAMPLES_PER_OPERATION = 25  # per generation mode
CHECK_NAMES = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
               "response_headers_conformance", "response_schema_conformance")
PASSWORD = "correct horse battery"

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("openapi-fuzz")
    env = {"DISPATCHWIRE_JWT_SECRET": "s" * 48, "DISPATCHWIRE_ARGON2_TIME_COST": "1",
           "DISPATCHWIRE_ARGON2_MEMORY_KIB": "1024",
           # the brake trips during the run (its 429s are checked too) and soon lets go
           "DISPATCHWIRE_LOGIN_MAX_FAILURES": "3", "DISPATCHWIRE_LOGIN_FAILURE_WINDOW_S": "1"}
    with ServerProcess(database_url=f"sqlite:///{folder / 'db.sqlite'}", env=env,
                       log_path=folder / "server.log") as running:
        yield running


def _login(server: ServerProcess, email: str) -> str:
    response = httpx.post(server.url + "/api/auth/login",
                          json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


@pytest.fixture(scope="module")
def tokens(server: ServerProcess) -> dict[str, str | None]:
    """A token per role (with an order, and a master on shift holding its offer)."""
    result: dict[str, str | None] = {"anonymous": None}
    for role in ("client", "master"):
        body = {"email": f"{role}@example.com", "password": PASSWORD, "name": role.title(),
                "role": role}
        response = httpx.post(server.url + "/api/auth/register", json=body)
        assert response.status_code == 201, response.text
        result[role] = response.json()["token"]
    subprocess.run([sys.executable, "-m", "dispatchwire", "create-admin", "--email",
                    "admin@example.com", "--password", PASSWORD], env=server.env, check=True,
                   stdout=subprocess.DEVNULL)
    result["admin"] = _login(server, "admin@example.com")
    headers = {"Authorization": f"Bearer {result['master']}"}
    assert httpx.post(server.url + "/api/masters/me/shift/start",
                      headers=headers).status_code == 200
    order = {"applianceType": "oven", "problem": "cold", "address": "1 Main St"}
    assert httpx.post(server.url + "/api/orders", json=order, headers={
        "Authorization": f"Bearer {result['client']}"}).status_code == 201
    return result


def _checks() -> list[Any]:
    load_all_checks()
    return [CHECKS.get_one(name) for name in CHECK_NAMES]


def test_every_operation_answers_as_its_document_says(
        server: ServerProcess, tokens: dict[str, str | None]) -> None:
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15, [op.label for op in operations]
    checks = _checks()
    failures: dict[str, str] = {}  # one of each kind: hypothesis replays what fails
    calls: list[int] = []
    with requests.Session() as session:
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                failures |= _run(operation, mode, server.url, tokens, session, checks, calls)
    assert not failures, "\n\n".join(list(failures.values())[:10])
    assert len(calls) >= 300, len(calls)  # a few hundred answers were held to the document
    assert httpx.get(server.url + "/health").status_code == 200


def _run(operation: Any, mode: GenerationMode, base_url: str,
         tokens: dict[str, str | None], session: requests.Session,
         checks: list[Any], calls: list[int]) -> dict[str, str]:
    """Call `operation` with generated cases; each kind of failure, described."""
    failures: dict[str, str] = {}

    @seed(SEED)
    @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, database=None,
              deadline=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode),
           role=st.sampled_from(sorted(tokens)))
    def call(case: Any, role: str) -> None:
        token = tokens[role]
        headers = {"Authorization": f"Bearer {token}"} if token else None
        calls.append(1)
        try:
            case.call_and_validate(base_url=base_url, session=session, headers=headers,
                                   checks=checks, timeout=10)
        except (Exception, FailureGroup) as exc:  # a BaseExceptionGroup, not an Exception
            text = str(exc)
            kind = f"{operation.label} {text.splitlines()[2] if text.count(chr(10)) > 2 else text}"
            failures[kind] = f"{operation.label} as {role} ({mode.value}): {text}"[:3000]

    with contextlib.suppress(Unsatisfiable):  # no invalid input exists (nothing to take)
        call()
    return failures
