"""SQLite on a disk that fills up: writes are refused with 503, reads and sockets go on, nothing
is corrupted, and writes work again once there is space.

The database lives on a small tmpfs that the test mounts (as root, as CI runs); a filler file
takes the rest of it.
"""

import contextlib
import errno
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.server import ServerProcess

PASSWORD = "correct horse battery"
ORDER = {"applianceType": "oven", "problem": "cold", "address": "1 Main St"}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs of the test's own."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root): {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of `disk` with one file; return it."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        block = b"\0" * (1 << 20)
        while True:
            try:
                f.write(block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                block = block[: len(block) // 2]
                if not block:
                    break
        with contextlib.suppress(OSError):
            os.fsync(f.fileno())
    return filler


def register(server: ServerProcess, role: str) -> dict[str, str]:
    body = {"email": f"{role}@example.com", "password": PASSWORD, "name": role, "role": role}
    response = httpx.post(server.url + "/api/auth/register", json=body)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def test_a_full_disk_refuses_writes_keeps_reads_and_sockets_and_recovers(
        small_disk: Path, tmp_path: Path) -> None:
    database = small_disk / "db.sqlite"
    log_path = tmp_path / "server.log"
    server = ServerProcess(database_url=f"sqlite:///{database}", log_path=log_path, env={
        "DISPATCHWIRE_JWT_SECRET": "d" * 48, "DISPATCHWIRE_ARGON2_TIME_COST": "1",
        "DISPATCHWIRE_ARGON2_MEMORY_KIB": "1024"}).start()
    with contextlib.ExitStack() as stack:
        stack.callback(server.stop)
        client, master = register(server, "client"), register(server, "master")
        http = stack.enter_context(httpx.Client(base_url=server.url, timeout=10))
        assert http.post("/api/masters/me/shift/start", headers=master).status_code == 200
        ws = stack.enter_context(connect(server.url.replace("http", "ws") + "/ws",
                                         open_timeout=5))
        ws.send(json.dumps({"type": "auth", "token": master["Authorization"][7:]}))
        ws.send(json.dumps({"type": "subscribe_assignments"}))
        assert [json.loads(ws.recv(5))["type"] for _ in range(2)] == [
            "auth_success", "subscribed_assignments"]

        filler = fill(small_disk)
        # The database may still have room in its own files: write until it has none. Room can
        # come back for a while (a checkpoint lets SQLite write its log from the start again, in
        # pages it already holds): what a write gets is then 201 or 503, never anything else,
        # until four in a row are refused.
        placed, refused_in_a_row = [], 0
        for _ in range(400):
            response = http.post("/api/orders", json=ORDER, headers=client)
            if response.status_code == 201:
                placed.append(response.json()["id"])
                refused_in_a_row = 0
                continue
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == "application/json"
            assert int(response.headers["retry-after"]) > 0
            assert "disk full" in response.json()["detail"]
            refused_in_a_row += 1
            if refused_in_a_row == 4:
                break
        assert refused_in_a_row == 4, f"{len(placed)} orders placed on a full disk"

        # Reads go on, and so does the socket.
        assert [o["id"] for o in http.get("/api/orders", headers=client).json()] == \
            placed[::-1]
        assert http.get("/api/auth/me", headers=master).status_code == 200
        assert http.get("/api/assignments/pending", headers=master).status_code == 200
        assert http.post("/api/auth/login", json={"email": "client@example.com",
                                                  "password": PASSWORD}).status_code == 200
        ws.send(json.dumps({"type": "ping"}))
        frames = [json.loads(ws.recv(5))]
        while frames[-1]["type"] != "pong":
            frames.append(json.loads(ws.recv(5)))
        assert all(f["type"] == "new_assignment" for f in frames[:-1])
        assert "database or disk is full" in log_path.read_text()

        filler.unlink()
        recovered = http.post("/api/orders", json=ORDER, headers=client)
        assert recovered.status_code == 201, recovered.text
        order_ids = [o["id"] for o in http.get("/api/orders", headers=client).json()]
        assert order_ids == [recovered.json()["id"], *placed[::-1]]  # the refused left nothing
        if not placed:  # the master had no offer yet: this one reaches his socket, event 1
            offer = json.loads(ws.recv(5))
            assert offer["type"] == "new_assignment" and offer["eventId"] == 1

    with sqlite3.connect(database) as check:
        assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert check.execute("SELECT count(*) FROM orders").fetchone() == (len(placed) + 1,)
    with ServerProcess(database_url=f"sqlite:///{database}", log_path=log_path,
                       env={"DISPATCHWIRE_JWT_SECRET": "d" * 48}) as again:
        assert len(httpx.get(again.url + "/api/orders", headers=client).json()) == \
            len(placed) + 1
