"""Configuration (DISPATCHWIRE_* variables, the JWT secret) and the `dispatchwire` command."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from dispatchwire.errors import ConfigurationError
from dispatchwire.settings import Settings
from tests.conftest import make_settings, running_app

PG_URL = "postgresql://dw:pw@127.0.0.1:1/dispatchwire"
STRONG_SECRET = "s" * 48


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No DISPATCHWIRE_* variable of the surrounding shell leaks into these tests."""
    for name in list(os.environ):
        if name.startswith("DISPATCHWIRE_"):
            monkeypatch.delenv(name)


def test_defaults_match_the_contract(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.host == "127.0.0.1"
    assert settings.port == 3000
    assert settings.broker_url == "memory://"
    assert settings.assignment_timeout_s == 300
    assert settings.subscription_stale_s == 300
    assert settings.jwt_secret is None
    assert settings.is_sqlite
    assert settings.sqlite_path is not None
    assert settings.sqlite_path.parent == tmp_path.resolve()  # a file in the working folder


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"HOST": "0.0.0.0", "PORT": "8080", "BROKER_URL": "redis://r:6379/0",
                        "DATABASE_URL": PG_URL, "JWT_SECRET": STRONG_SECRET,
                        "ASSIGNMENT_TIMEOUT_S": "45", "SUBSCRIPTION_STALE_S": "90"}.items():
        monkeypatch.setenv(f"DISPATCHWIRE_{name}", value)
    settings = Settings()
    assert (settings.host, settings.port, settings.broker_url) == \
        ("0.0.0.0", 8080, "redis://r:6379/0")
    assert (settings.assignment_timeout_s, settings.subscription_stale_s) == (45, 90)
    assert not settings.is_sqlite
    assert settings.resolve_jwt_secret() == STRONG_SECRET


def test_a_generated_secret_is_kept_beside_the_sqlite_file(tmp_path: Path) -> None:
    db = tmp_path / "data" / "dw.db"
    settings = Settings(database_url=f"sqlite:///{db}")
    secret = settings.resolve_jwt_secret()
    kept = tmp_path / "data" / "dw.db.jwt-secret"
    assert kept.is_file()
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert kept.read_text().strip() == secret
    assert len(secret) >= 32

    assert settings.resolve_jwt_secret() == secret
    assert Settings(database_url=f"sqlite+aiosqlite:///{db}").resolve_jwt_secret() == secret
    other = Settings(database_url=f"sqlite:///{tmp_path / 'other.db'}").resolve_jwt_secret()
    assert other != secret


def test_a_given_secret_wins_and_writes_no_file(tmp_path: Path) -> None:
    db = tmp_path / "dw.db"
    settings = Settings(database_url=f"sqlite:///{db}", jwt_secret=STRONG_SECRET)
    assert settings.resolve_jwt_secret() == STRONG_SECRET
    assert not (tmp_path / "dw.db.jwt-secret").exists()


def test_postgresql_without_a_secret_is_refused() -> None:
    settings = Settings(database_url=PG_URL)
    with pytest.raises(ConfigurationError, match="DISPATCHWIRE_JWT_SECRET"):
        settings.resolve_jwt_secret()


@pytest.mark.parametrize("weak", ["changethis", "CHANGETHIS", "secret", "short-but-random-x9"])
def test_a_weak_secret_is_refused(weak: str, tmp_path: Path) -> None:
    for url in (PG_URL, f"sqlite:///{tmp_path / 'dw.db'}"):
        with pytest.raises(ConfigurationError, match="DISPATCHWIRE_JWT_SECRET"):
            Settings(database_url=url, jwt_secret=weak).resolve_jwt_secret()


def test_a_weak_secret_in_the_kept_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dw.db.jwt-secret").write_text("changethis\n")
    with pytest.raises(ConfigurationError):
        Settings(database_url=f"sqlite:///{tmp_path / 'dw.db'}").resolve_jwt_secret()


@pytest.mark.parametrize(("given", "expected"), [
    (PG_URL, "postgresql+asyncpg://dw:pw@127.0.0.1:1/dispatchwire"),
    ("postgres://dw:pw@db/x", "postgresql+asyncpg://dw:pw@db/x"),
    ("postgresql+asyncpg://dw:pw@db/x", "postgresql+asyncpg://dw:pw@db/x"),
    ("sqlite:///./x.db", "sqlite+aiosqlite:///./x.db"),
])
def test_database_urls_get_the_async_driver(given: str, expected: str) -> None:
    assert Settings(database_url=given).database_url == expected


def test_an_unsupported_database_url_is_refused() -> None:
    with pytest.raises(ValidationError, match="database"):
        Settings(database_url="mysql://u@h/db")


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite+aiosqlite://"])
def test_an_in_memory_sqlite_database_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="in-memory SQLite database is not supported"):
        Settings(database_url=url)


def start_cli(*args: str, cwd: Path, **env: str) -> subprocess.Popen[str]:
    """`dispatchwire ARGS` started with only the given DISPATCHWIRE_* variables."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCHWIRE_")}
    return subprocess.Popen([sys.executable, "-m", "dispatchwire", *args], cwd=cwd,
                            env={**environ, **env}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    stdout, stderr = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def run_cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return finished(start_cli(*args, cwd=cwd, **env))


def assert_clean_failure(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word.lower() in result.stderr.lower(), (word, result.stderr)


def test_serve_on_postgresql_without_a_secret_fails_clearly(tmp_path: Path) -> None:
    runs = [start_cli("serve", cwd=tmp_path, DISPATCHWIRE_DATABASE_URL=PG_URL),
            start_cli("serve", "--database-url", PG_URL, cwd=tmp_path),
            start_cli("serve", cwd=tmp_path, DISPATCHWIRE_DATABASE_URL=PG_URL,
                      DISPATCHWIRE_JWT_SECRET="changethis")]
    for process in runs:
        assert_clean_failure(finished(process), "DISPATCHWIRE_JWT_SECRET")
    assert not list(tmp_path.iterdir())  # nothing was written in the working folder


def test_bad_settings_are_named_without_echoing_their_values(tmp_path: Path) -> None:
    result = run_cli("serve", cwd=tmp_path,
                     DISPATCHWIRE_DATABASE_URL="mysql://ops:hunter2@db.example.com/dw")
    assert_clean_failure(result, "database_url", "unsupported database URL scheme")
    assert "hunter2" not in result.stderr + result.stdout


async def test_create_admin_makes_an_admin_who_can_log_in(tmp_path: Path) -> None:
    db = tmp_path / "dw.db"
    url = f"sqlite:///{db}"
    result = run_cli("create-admin", "--email", "Boss@Example.com", "--password",
                     "a long admin password", cwd=tmp_path, DISPATCHWIRE_DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    assert "boss@example.com" in result.stdout.lower()
    assert (tmp_path / "dw.db.jwt-secret").is_file()  # no secret given: one is kept

    taken = start_cli("create-admin", "--email", "boss@example.com", "--password",
                      "another long password", cwd=tmp_path, DISPATCHWIRE_DATABASE_URL=url)
    bad = start_cli("create-admin", "--email", "not-an-email", "--password",
                    "a long admin password", cwd=tmp_path, DISPATCHWIRE_DATABASE_URL=url)
    short = start_cli("create-admin", "--email", "short@example.com", "--password", "abc",
                      cwd=tmp_path, DISPATCHWIRE_DATABASE_URL=url)
    assert_clean_failure(finished(taken), "boss@example.com", "already")
    assert_clean_failure(finished(bad), "email")
    assert_clean_failure(finished(short), "password")

    async with running_app(make_settings(url)) as api:
        login = await api.call("POST", "/api/auth/login",
                               json={"email": "boss@example.com",
                                     "password": "a long admin password"})
        assert login["user"]["role"] == "admin"
        assert login["user"]["email"] == "boss@example.com"
        assert login["user"]["name"] == "Admin"
        await api.call("POST", "/api/auth/login", expect=401,
                       json={"email": "boss@example.com", "password": "another long password"})
        await api.call("POST", "/api/auth/login", expect=401,  # the refused one was not made
                       json={"email": "short@example.com", "password": "abc"})
        headers = {"Authorization": f"Bearer {login['token']}"}
        stats = await api.client.get("/api/admin/websocket/stats", headers=headers)
        assert stats.status_code == 200, stats.text
