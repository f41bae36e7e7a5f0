"""Repeated failed logins to one email are refused for a while; nobody else is slowed."""

import time
from typing import Any

import pytest

from dispatchwire.auth.security import LoginBrake
from dispatchwire.errors import TooManyRequests
from tests.conftest import Api


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"login_max_failures": 3}


async def login(api: Api, email: str, password: str) -> tuple[int, dict[str, Any]]:
    response = await api.client.post("/api/auth/login",
                                     json={"email": email, "password": password})
    return response.status_code, response.json()


async def test_the_fourth_failure_in_a_row_is_refused_even_with_the_right_password(
        api: Api) -> None:
    victim = await api.register("client")
    other = await api.register("client")
    for _ in range(3):
        assert (await login(api, victim.email, "wrong password"))[0] == 401
    status, body = await login(api, victim.email.upper(), api.password)
    assert status == 429
    assert "too many failed logins" in body["detail"]
    assert (await login(api, other.email, api.password))[0] == 200


async def test_a_success_clears_the_count(api: Api) -> None:
    user = await api.register("master")
    for _ in range(2):
        assert (await login(api, user.email, "wrong password"))[0] == 401
    assert (await login(api, user.email, api.password))[0] == 200
    for _ in range(2):
        assert (await login(api, user.email, "wrong password"))[0] == 401
    assert (await login(api, user.email, api.password))[0] == 200


def test_failures_age_out_of_the_window_and_memory_stays_bounded() -> None:
    brake = LoginBrake(max_failures=2, window_s=0.2, max_tracked=10)
    brake.failed("a@example.com")
    brake.failed("a@example.com")
    with pytest.raises(TooManyRequests):
        brake.check("a@example.com")
    time.sleep(0.25)
    brake.check("a@example.com")  # the window has passed
    for i in range(50):
        brake.failed(f"u{i}@example.com")
    assert len(brake) == 10
