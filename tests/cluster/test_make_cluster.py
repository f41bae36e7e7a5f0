"""`make cluster`'s script: three nodes, PostgreSQL, Redis and nginx (running the site in
deploy/nginx/), used through nginx; any stop signal removes everything it started."""

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.conftest import wait_for
from tests.pg import free_port

SCRIPT = Path(__file__).parents[2] / "deploy" / "cluster" / "cluster.py"
SITE = Path(__file__).parents[2] / "deploy" / "nginx" / "dispatchwire.conf"
FAST = {"DISPATCHWIRE_ARGON2_TIME_COST": "1", "DISPATCHWIRE_ARGON2_MEMORY_KIB": "1024"}


def _free_run(size: int) -> int:
    """A port whose next `size - 1` ports are free too."""
    while True:
        base = free_port()
        if base + size < 65536 and all(_free(base + i) for i in range(size)):
            return base


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _free(port: int) -> bool:
    """Whether a server could listen on `port` (a client socket's port fails this too)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.fixture
def script() -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = _free_run(4)
    process = subprocess.Popen([sys.executable, str(SCRIPT), "--port", str(port)],
                               env={**os.environ, **FAST}, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    yield process, port
    if process.poll() is None:  # the test failed early: let the script stop what it started
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_the_cluster_serves_through_nginx_and_stops_cleanly(
        script: tuple[subprocess.Popen[str], int]) -> None:
    process, port = script
    assert process.stdout is not None
    lines = [await asyncio.to_thread(process.stdout.readline) for _ in range(6)]
    if lines[0].strip() != "dispatchwire cluster ready":
        rest = await asyncio.to_thread(process.stdout.read)
        raise AssertionError("the script failed:\n" + "".join(lines) + rest)
    assert f"http://127.0.0.1:{port} (nginx" in lines[1]
    folder = Path(lines[4].split(":", 1)[1].strip())
    assert await asyncio.to_thread(folder.is_dir)
    # nginx runs the deployed site itself: only its listen and upstream servers differ.
    ports = r"\n".join(rf"    server 127\.0\.0\.1:{port + i};" for i in (1, 2, 3))
    running = (folder / "dispatchwire.conf").read_text()
    assert re.search(rf"upstream dispatchwire {{\n{ports}\n}}", running), running
    assert f"listen 127.0.0.1:{port};" in running
    assert _without_ports(running) == _without_ports(SITE.read_text())

    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        async def login(email: str, password: str) -> str:
            response = await http.post("/api/auth/login",
                                       json={"email": email, "password": password})
            assert response.status_code == 200, response.text
            return str(response.json()["token"])

        master = await login("master1@example.com", "master-demo-1")
        client = await login("client@example.com", "client-demo-1")
        admin = await login("admin@example.com", "admin-demo-1")
        await http.post("/api/masters/me/shift/start",
                        headers={"Authorization": f"Bearer {master}"})
        async with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=5) as ws:
            await ws.send(json.dumps({"type": "auth", "token": master}))
            await ws.send(json.dumps({"type": "subscribe_assignments"}))
            for expected in ("auth_success", "subscribed_assignments"):
                assert json.loads(await ws.recv())["type"] == expected
            # Every node (nginx takes turns) counts the socket, wherever it is held.
            async def subscribed_everywhere() -> bool:
                counts = [(await http.get("/api/admin/websocket/stats", headers={
                    "Authorization": f"Bearer {admin}"})).json()["totalSubscribed"]
                    for _ in range(3)]
                return counts == [1, 1, 1]

            await wait_for(subscribed_everywhere, within=5)
            order = await http.post("/api/orders", headers={"Authorization": f"Bearer {client}"},
                                    json={"applianceType": "washing_machine",
                                          "problem": "leaks", "address": "1 Main St"})
            assert order.status_code == 201, order.text
            async with asyncio.timeout(5):
                offer = json.loads(await ws.recv())
            assert offer["type"] == "new_assignment"
            assert offer["assignment"]["orderId"] == order.json()["id"]

    process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(process.wait, 30) == 0
    assert not await asyncio.to_thread(folder.exists)
    assert not any(_listening(port + i) for i in range(4))


def _without_ports(site: str) -> str:
    return re.sub(r"(listen|server) 127\.0\.0\.1:\d+;", r"\1 PORT;", site)


def _processes_of(folder: Path, group: int) -> list[str]:
    """The live processes in the script's process group, or naming its folder."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if state[0] != "Z" and (int(state[2]) == group or str(folder) in command):
            found.append(f"{entry.name}: {command}")
    return found


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_to_its_terminal_removes_everything(stop: signal.Signals) -> None:
    """Ctrl-C, or the terminal closing: every process of the terminal's group gets the signal,
    the nodes, Redis and nginx too, as when a person does it."""
    port = _free_run(2)
    process = subprocess.Popen([sys.executable, str(SCRIPT), "--port", str(port), "--nodes",
                                "1"], env={**os.environ, **FAST}, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    assert process.stdout is not None
    try:
        lines = [process.stdout.readline() for _ in range(6)]
        assert lines[0].strip() == "dispatchwire cluster ready", "".join(lines)
        folder = Path(lines[4].split(":", 1)[1].strip())
        assert _processes_of(folder, process.pid)  # the test sees what it started
        os.killpg(process.pid, stop)
        rest = process.communicate(timeout=60)[0]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, rest
    assert rest.splitlines()[-1] == \
        f"make cluster: stopped by {stop.name}; everything it started is gone", rest
    assert "Traceback" not in rest
    assert not folder.exists()
    assert not _listening(port) and not _listening(port + 1)
    assert _processes_of(folder, process.pid) == []
