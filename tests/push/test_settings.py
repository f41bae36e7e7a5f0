"""The push settings: their defaults (DESIGN.md) and how DISPATCHWIRE_* variables are read."""

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from dispatchwire.push import HostPolicy
from dispatchwire.settings import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("DISPATCHWIRE_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    settings = Settings()
    assert (settings.push_after_s, settings.push_timeout_s) == (3, 5)
    assert (settings.vapid_private_key, settings.fcm_credentials) == (None, None)
    assert settings.fcm_url == "https://fcm.googleapis.com"
    assert settings.vapid_subject.startswith("mailto:")
    policy = HostPolicy.from_settings(settings)
    for browser in ("https://fcm.googleapis.com/fcm/send/x",
                    "https://updates.push.services.mozilla.com/wpush/v2/x",
                    "https://db5p.notify.windows.com/w/?token=x",
                    "https://web.push.apple.com/x"):
        policy.check_url(browser)


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in {
        "PUSH_ALLOWED_HOSTS": " Push.Example. , localhost,,", "PUSH_AFTER_S": "0.5",
        "PUSH_TIMEOUT_S": "2", "FCM_URL": "http://127.0.0.1:9/", "VAPID_SUBJECT":
        "https://ops.example.com/contact", "FCM_CREDENTIALS": str(tmp_path / "sa.json"),
        "VAPID_PRIVATE_KEY": "x" * 43,
    }.items():
        monkeypatch.setenv(f"DISPATCHWIRE_{name}", value)
    settings = Settings()
    assert settings.push_hosts == ("push.example", "localhost")
    assert (settings.push_after_s, settings.push_timeout_s) == (0.5, 2)
    assert settings.fcm_url == "http://127.0.0.1:9"
    assert settings.vapid_subject == "https://ops.example.com/contact"
    assert settings.fcm_credentials == tmp_path / "sa.json"
    assert settings.vapid_private_key is not None
    assert "x" * 43 not in repr(settings)  # a secret stays out of logs and tracebacks


@pytest.mark.parametrize(("name", "value"), [
    ("vapid_subject", "ops@example.com"), ("vapid_subject", "http://ops.example.com"),
    ("push_allowed_hosts", "https://push.example"), ("push_allowed_hosts", "push.example/x"),
    ("fcm_url", "fcm.googleapis.com"), ("push_timeout_s", 0), ("push_after_s", -1),
])
def test_bad_values_are_refused(name: str, value: object) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(**{name: value})  # type: ignore[arg-type]
    assert refused.value.errors()[0]["loc"] == (name,)
