"""Configuration files and commands: `dispatchwire.env.example` lists every setting with its
default; `--env-file` and `./dispatchwire.env` are read at start, under the environment;
`dispatchwire settings` prints what is in effect with secrets masked; `set-password`."""

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pexpect
import pytest

from dispatchwire.settings import ClientSettings, Settings
from tests.conftest import make_settings, running_app
from tests.pg import free_port
from tests.test_settings_cli import assert_clean_failure, finished, run_cli, start_cli

EXAMPLE = Path(__file__).parent.parent / "dispatchwire.env.example"
SECRET = "rotated-secret-" + "q" * 40
OLD_SECRET = "previous-secret-" + "w" * 40


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("DISPATCHWIRE_"):
            monkeypatch.delenv(name)


def example_lines() -> dict[str, str]:
    """`# DISPATCHWIRE_NAME=value` lines of the example, by NAME."""
    found = re.findall(r"^# DISPATCHWIRE_([A-Z0-9_]+)=(.*)$", EXAMPLE.read_text(), re.M)
    return {name.lower(): value for name, value in found}


def test_the_example_lists_every_setting_once() -> None:
    listed = re.findall(r"^# DISPATCHWIRE_([A-Z0-9_]+)=", EXAMPLE.read_text(), re.M)
    fields = [*Settings.model_fields, *ClientSettings.model_fields]
    assert sorted(name.lower() for name in listed) == sorted(fields)


def test_the_readme_table_names_every_setting() -> None:
    readme = (EXAMPLE.parent / "README.md").read_text()
    table = readme[readme.index("| variable | default |"):readme.index("Migrations run at")]
    for name in [*Settings.model_fields, *ClientSettings.model_fields]:
        assert f"`DISPATCHWIRE_{name.upper()}`" in table, name


def test_the_example_shows_the_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Uncommented as it is, every value it shows is the default: the file tells no lie."""
    monkeypatch.chdir(tmp_path)
    uncommented = tmp_path / "all.env"
    uncommented.write_text("".join(f"DISPATCHWIRE_{name.upper()}={value}\n"
                                   for name, value in example_lines().items() if value))
    for kind in (Settings, ClientSettings):
        from_file = kind(_env_file=uncommented)  # type: ignore[call-arg]
        defaults = kind()
        for name in kind.model_fields:
            if example_lines()[name]:
                assert getattr(from_file, name) == getattr(defaults, name), name
            else:  # shown empty: no default (the JWT secrets)
                assert getattr(defaults, name) is None, name


def env_file(path: Path, **values: str) -> Path:
    path.write_text("# a comment\n" + "".join(f"DISPATCHWIRE_{k.upper()}={v}\n"
                                               for k, v in values.items()))
    return path


def test_settings_prints_what_is_in_effect_with_secrets_masked(tmp_path: Path) -> None:
    file = env_file(tmp_path / "prod.env", port="4123", jwt_secret=SECRET,
                    jwt_previous_secrets=f"{OLD_SECRET}, {OLD_SECRET[::-1]}",
                    database_url="postgresql://dispatch:db-password-9@db.internal:5432/dw",
                    broker_url="redis://:redis-password-7@redis.internal:6379/0",
                    log_format="json")
    result = run_cli("settings", "--env-file", str(file), cwd=tmp_path,
                     DISPATCHWIRE_LOG_LEVEL="warning")  # the environment wins over the file
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert str(file) in lines[0]
    assert "DISPATCHWIRE_PORT=4123" in lines
    assert "DISPATCHWIRE_LOG_LEVEL=warning" in lines and "DISPATCHWIRE_LOG_FORMAT=json" in lines
    assert "DISPATCHWIRE_HOST=127.0.0.1  # default" in lines
    assert "DISPATCHWIRE_JWT_SECRET=********" in lines
    assert "DISPATCHWIRE_JWT_PREVIOUS_SECRETS=********" in lines
    assert "DISPATCHWIRE_DATABASE_URL=postgresql+asyncpg://dispatch:********@db.internal:5432/dw" \
        in lines
    assert "DISPATCHWIRE_BROKER_URL=redis://:********@redis.internal:6379/0" in lines
    for secret in (SECRET, OLD_SECRET, OLD_SECRET[::-1], "db-password-9", "redis-password-7"):
        assert secret not in result.stdout + result.stderr
    assert len([line for line in lines if line.startswith("DISPATCHWIRE_")]) == \
        len(Settings.model_fields)


def test_the_working_folders_env_file_is_read_and_a_missing_one_named(tmp_path: Path) -> None:
    env_file(tmp_path / "dispatchwire.env", port="4999")
    result = run_cli("settings", cwd=tmp_path)
    assert "DISPATCHWIRE_PORT=4999" in result.stdout.splitlines()
    assert "jwt-secret" in result.stdout  # where the secret will be kept, never its value
    missing = run_cli("settings", "--env-file", "nowhere.env", cwd=tmp_path)
    assert_clean_failure(missing, "no environment file nowhere.env")
    weak = run_cli("settings", cwd=tmp_path, DISPATCHWIRE_JWT_SECRET=SECRET,
                   DISPATCHWIRE_JWT_PREVIOUS_SECRETS="short")
    assert_clean_failure(weak, "DISPATCHWIRE_JWT_PREVIOUS_SECRETS", "too weak")


def test_serve_reads_its_env_file_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    file = env_file(tmp_path / "server.env", port=str(port), jwt_secret=SECRET,
                    database_url=f"sqlite:///{tmp_path / 'dw.db'}", argon2_time_cost="1",
                    argon2_memory_kib="1024")
    server = start_cli("serve", "--env-file", str(file), cwd=tmp_path)
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert server.poll() is None, server.communicate()
                time.sleep(0.1)
        registered = httpx.post(f"http://127.0.0.1:{port}/api/auth/register", timeout=10, json={
            "email": "c@example.com", "password": "long enough", "name": "C", "role": "client"})
        assert registered.status_code == 201
    finally:
        server.send_signal(signal.SIGTERM)
        result = finished(server)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "dw.db.jwt-secret").exists()  # the file's secret was used


async def test_set_password_reads_standard_input_and_the_new_one_works(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dw.db'}"
    settings = make_settings(url)
    async with running_app(settings) as api:
        person = await api.register("master")
    env = {"DISPATCHWIRE_DATABASE_URL": url, "DISPATCHWIRE_JWT_SECRET": SECRET,
           "DISPATCHWIRE_ARGON2_TIME_COST": "1", "DISPATCHWIRE_ARGON2_MEMORY_KIB": "1024"}

    def set_password(email: str, stdin: str) -> subprocess.CompletedProcess[str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCHWIRE_")}
        return subprocess.run([sys.executable, "-m", "dispatchwire", "set-password", "--email",
                               email], input=stdin, env={**environ, **env}, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)

    changed = set_password(person.email.upper(), "a brand new password\n")
    assert changed.returncode == 0, changed.stderr
    assert f"user id {person.id}" in changed.stdout
    assert "a brand new password" not in changed.stdout + changed.stderr
    assert_clean_failure(set_password("nobody@example.com", "another password\n"),
                         "no user has the email nobody@example.com")
    assert_clean_failure(set_password(person.email, "short\n"), "password", "at least 8")
    async with running_app(settings) as api:
        for password, status in (("a brand new password", 200), (api.password, 401)):
            await api.call("POST", "/api/auth/login", expect=status,
                           json={"email": person.email, "password": password})


async def test_set_password_asks_twice_at_a_terminal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dw.db'}"
    settings = make_settings(url)
    async with running_app(settings) as api:
        person = await api.register("client")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCHWIRE_")}
    env = {**environ, "DISPATCHWIRE_DATABASE_URL": url, "DISPATCHWIRE_JWT_SECRET": SECRET}

    def ask(first: str, again: str) -> pexpect.spawn:
        tty = pexpect.spawn(sys.executable, ["-m", "dispatchwire", "set-password", "--email",
                                             person.email], env=env, cwd=str(tmp_path),
                            encoding="utf-8", timeout=30)
        tty.expect(f"New password for {person.email}: ")
        tty.sendline(first)
        tty.expect("Again: ")
        tty.sendline(again)
        tty.expect(pexpect.EOF)
        tty.close()
        return tty

    differ = await asyncio.to_thread(ask, "typed at a terminal", "typed at a terminaL")
    assert differ.exitstatus == 1 and "differ" in str(differ.before)
    same = await asyncio.to_thread(ask, "typed at a terminal", "typed at a terminal")
    assert same.exitstatus == 0, same.before
    assert "typed at a terminal" not in str(same.before)  # never echoed
    async with running_app(settings) as api:
        await api.call("POST", "/api/auth/login",
                       json={"email": person.email, "password": "typed at a terminal"})
