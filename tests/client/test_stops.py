"""The terminal apps stop on SIGINT, SIGTERM and SIGHUP (and a terminal that really hangs up)
with one line and no traceback, `master` ending the shift it started; both find the server
through DISPATCHWIRE_URL when no `--url` is given."""

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest

from tests.client.conftest import Server, call, register, unique_appliance

COMMAND = [sys.executable, "-m", "dispatchwire"]


def spawn(server: Server, *args: str, log: Path) -> pexpect.spawn:
    """`dispatchwire ARGS` in a pseudo-terminal, the server given only by DISPATCHWIRE_URL."""
    env = {**os.environ, "COLUMNS": "160", "LINES": "50", "TERM": "xterm-256color",
           "DISPATCHWIRE_URL": server.url}
    app = pexpect.spawn(COMMAND[0], [*COMMAND[1:], *args], env=env, dimensions=(50, 160),
                        encoding="utf-8", timeout=15)
    app.logfile_read = log.open("a")
    return app


async def ended(app: pexpect.spawn) -> str:
    """What the app printed until it exited."""
    await asyncio.to_thread(app.expect, pexpect.EOF)
    app.close()
    return str(app.before)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=lambda s: s.name)
async def test_the_master_app_ends_the_shift_on_a_signal(make_server: Any, tmp_path: Path,
                                                         stop: signal.Signals) -> None:
    server: Server = make_server()
    master = await register(server, "master", specializations=[unique_appliance()])
    app = spawn(server, "master", "--email", master.email, "--password", master.password,
                log=tmp_path / "tty.log")
    try:
        await asyncio.to_thread(app.expect, "connected: offers come live")
        assert (await call(server, "GET", "/api/masters/me", master))["onShift"] is True
        app.kill(stop)
        await asyncio.to_thread(app.expect, "shift ended")
        rest = await ended(app)
    finally:
        app.close(force=True)
    assert app.exitstatus == 0, (tmp_path / "tty.log").read_text()
    assert rest.strip() == "", rest  # "shift ended" was the last line
    assert "Traceback" not in (tmp_path / "tty.log").read_text()
    assert (await call(server, "GET", "/api/masters/me", master))["onShift"] is False


async def test_the_master_app_ends_the_shift_when_its_terminal_hangs_up(
        make_server: Any, tmp_path: Path) -> None:
    server: Server = make_server()
    master = await register(server, "master", specializations=[unique_appliance()])
    app = spawn(server, "master", "--email", master.email, "--password", master.password,
                log=tmp_path / "tty.log")
    try:
        await asyncio.to_thread(app.expect, "connected: offers come live")
        app.ptyproc.fileobj.close()  # the terminal window closes: the kernel sends SIGHUP
        async with asyncio.timeout(15):
            _, status = await asyncio.to_thread(os.waitpid, app.pid, 0)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(app.pid, signal.SIGKILL)
    assert os.waitstatus_to_exitcode(status) == 0
    assert (await call(server, "GET", "/api/masters/me", master))["onShift"] is False


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
async def test_watch_stops_with_one_line(make_server: Any, tmp_path: Path,
                                         stop: signal.Signals) -> None:
    server: Server = make_server()
    master = await register(server, "master", specializations=[unique_appliance()])
    watch = await asyncio.create_subprocess_exec(
        *COMMAND, "watch", "--email", master.email, "--password", master.password,
        env={**os.environ, "DISPATCHWIRE_URL": server.url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert watch.stderr is not None and watch.stdout is not None
    try:
        async with asyncio.timeout(15):
            assert (await watch.stderr.readline()).decode() == "# connected\n"
        assert b"auth_success" in await watch.stdout.readline()
        watch.send_signal(stop)
        async with asyncio.timeout(15):
            rest = (await watch.stderr.read()).decode()
            assert await watch.wait() == 0
    finally:
        if watch.returncode is None:
            watch.kill()
            await watch.wait()
    assert rest.splitlines() == ["# closed"], rest
