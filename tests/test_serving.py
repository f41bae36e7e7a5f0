"""`dispatchwire serve` and `make run` stop on SIGINT, SIGTERM and SIGHUP with one line and no
traceback, after telling where the pages are."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from tests.conftest import TEST_SECRET
from tests.pg import free_port

ROOT = Path(__file__).parent.parent
FAST = {"DISPATCHWIRE_JWT_SECRET": TEST_SECRET, "DISPATCHWIRE_ARGON2_TIME_COST": "1",
        "DISPATCHWIRE_ARGON2_MEMORY_KIB": "1024", "DISPATCHWIRE_LOG_LEVEL": "info"}
PAGES = ("client page", "master page", "admin page", "API docs")


def server_env(tmp_path: Path, port: int) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCHWIRE_")}
    return {**environ, **FAST, "DISPATCHWIRE_PORT": str(port),
            "DISPATCHWIRE_DATABASE_URL": f"sqlite:///{tmp_path / 'dw.db'}"}


def default_sighup() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def after_pages(output: str, port: int) -> list[str]:
    """The lines after the pages' addresses, which must all be there first (a terminal's
    line ends and echoed ^C aside)."""
    output = output.replace("\r\n", "\n").replace("^C", "")
    lines = output.splitlines()
    for path, what in zip(("/", "/master", "/admin", "/docs"), PAGES, strict=True):
        assert re.search(rf"^  {what} +http://127\.0\.0\.1:{port}{path}$", output, re.M), output
    last = max(i for i, line in enumerate(lines) if "API docs" in line)
    return [line for line in lines[last + 1:] if line.strip()]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=lambda s: s.name)
def test_serve_stops_cleanly_with_one_line(tmp_path: Path, stop: signal.Signals) -> None:
    port = free_port()
    # A terminal's SIGHUP as a shell leaves it, even when the tests run under nohup.
    server = subprocess.Popen([sys.executable, "-m", "dispatchwire", "serve", "--demo"],
                              env=server_env(tmp_path, port), cwd=tmp_path, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              preexec_fn=default_sighup)
    assert server.stdout is not None
    output = ""
    try:
        while "API docs" not in output:
            line = server.stdout.readline()
            assert line, output
            output += line
        server.send_signal(stop)
        output += server.communicate(timeout=30)[0]
    finally:
        server.kill()
    assert server.returncode == 0, output
    assert "Traceback" not in output
    [line] = after_pages(output, port)
    assert line.endswith(f"dispatchwire stopped by {stop.name}"), output


def test_ctrl_c_on_make_run_prints_one_line(tmp_path: Path) -> None:
    """Ctrl-C at the terminal reaches make and the server alike, as it does for a person."""
    port = free_port()
    run = pexpect.spawn("make", ["-s", "-C", str(ROOT), "run"], env=server_env(tmp_path, port),
                        encoding="utf-8", timeout=60, dimensions=(50, 200))
    try:
        run.expect(f"API docs +http://127.0.0.1:{port}/docs")
        output = str(run.before) + str(run.after)
        run.sendintr()
        run.expect(pexpect.EOF)
        output += str(run.before)
    finally:
        run.close(force=True)
    assert "Traceback" not in output and "Interrupt" not in output, output
    assert "master1@example.com" in output  # the demo accounts were printed
    [line] = after_pages(output, port)
    assert line.endswith("dispatchwire stopped by SIGINT"), output


def test_under_nohup_sighup_is_left_ignored(tmp_path: Path) -> None:
    """`nohup dispatchwire serve &` must outlive its terminal: an ignored SIGHUP stays so."""
    port = free_port()

    def ignore_sighup() -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    server = subprocess.Popen([sys.executable, "-m", "dispatchwire", "serve"],
                              env=server_env(tmp_path, port), cwd=tmp_path, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              preexec_fn=ignore_sighup)
    assert server.stdout is not None
    try:
        output = ""
        while "API docs" not in output:
            line = server.stdout.readline()
            assert line, output
            output += line
        server.send_signal(signal.SIGHUP)
        with pytest.raises(subprocess.TimeoutExpired):
            server.wait(timeout=1.5)
        server.send_signal(signal.SIGTERM)
        output += server.communicate(timeout=30)[0]
    finally:
        server.kill()
    assert server.returncode == 0
    [line] = after_pages(output, port)
    assert line.endswith("dispatchwire stopped by SIGTERM"), output
