"""`dispatchwire backup`: a copy taken while orders are being placed holds every order committed
before it began, passes SQLite's integrity check, and a server restored from it serves."""

import asyncio
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.server import ServerProcess

SECRET = "b" * 48
ENV = {"DISPATCHWIRE_JWT_SECRET": SECRET, "DISPATCHWIRE_ARGON2_TIME_COST": "1",
       "DISPATCHWIRE_ARGON2_MEMORY_KIB": "1024"}
ORDER = {"applianceType": "oven", "problem": "cold", "address": "1 Main St"}


async def run_backup(server: ServerProcess, target: Path) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "dispatchwire", "backup", str(target)],
        env=server.env, capture_output=True, text=True, timeout=60)


async def test_a_backup_under_load_restores_every_order_committed_before_it(
        tmp_path: Path) -> None:
    database = tmp_path / "live" / "db.sqlite"
    database.parent.mkdir()
    server = ServerProcess(database_url=f"sqlite:///{database}", env=ENV,
                           log_path=tmp_path / "live.log")
    await asyncio.to_thread(server.start)
    answered: list[tuple[float, float, int]] = []  # (sent, answered, order id)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            body = {"email": "ann@example.com", "password": "correct horse battery",
                    "name": "Ann", "role": "client"}
            token = (await http.post("/api/auth/register", json=body)).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}
            stop = asyncio.Event()

            async def place(lane: int) -> None:
                while not stop.is_set():
                    sent = time.monotonic()
                    response = await http.post("/api/orders", json=ORDER, headers=headers)
                    assert response.status_code == 201, response.text
                    answered.append((sent, time.monotonic(), response.json()["id"]))

            placing = [asyncio.create_task(place(lane)) for lane in range(4)]
            await asyncio.sleep(1.0)
            began = time.monotonic()
            result = await run_backup(server, tmp_path / "backup.sqlite")
            ended = time.monotonic()
            await asyncio.sleep(0.5)
            stop.set()
            await asyncio.gather(*placing)
    finally:
        await asyncio.to_thread(server.stop)

    assert result.returncode == 0, result.stderr
    assert "integrity check ok" in result.stdout
    # committed before the backup began / sent after it ended (so committed after it)
    before = {order_id for _, at, order_id in answered if at < began}
    after = {order_id for sent, _, order_id in answered if sent > ended}
    assert len(before) >= 20 and after, "the load did not surround the backup"
    with sqlite3.connect(tmp_path / "backup.sqlite") as copy:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        stored = {row[0] for row in copy.execute("SELECT id FROM orders")}
    assert before <= stored, f"committed before the backup, missing: {before - stored}"
    assert not after & stored, "the copy holds orders placed after the backup ended"
    assert stored <= {order_id for *_, order_id in answered}

    # Restore as the README says: the server stopped, the file copied in place, started.
    restored = tmp_path / "restored" / "db.sqlite"
    restored.parent.mkdir()
    shutil.copy(tmp_path / "backup.sqlite", restored)
    with ServerProcess(database_url=f"sqlite:///{restored}", env=ENV,
                       log_path=tmp_path / "restored.log") as again, \
            httpx.Client(base_url=again.url, timeout=10) as http:
        listed: set[int] = set()
        while page := http.get("/api/orders", headers=headers,
                               params={"limit": 500, "offset": len(listed)}).json():
            listed |= {o["id"] for o in page}
        assert listed == stored
        placed = http.post("/api/orders", json=ORDER, headers=headers)
        assert placed.status_code == 201, placed.text
        assert placed.json()["id"] > max(stored)


def test_postgresql_is_refused_naming_its_own_tools(tmp_path: Path) -> None:
    target = tmp_path / "copy"
    result = subprocess.run(
        [sys.executable, "-m", "dispatchwire", "backup", str(target), "--database-url",
         "postgresql://dispatch@127.0.0.1:1/dispatch"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "pg_dump" in result.stderr and "pg_basebackup" in result.stderr
    assert not target.exists()


def test_the_backup_never_overwrites_the_database(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite"
    sqlite3.connect(database).close()
    result = subprocess.run(
        [sys.executable, "-m", "dispatchwire", "backup", str(database), "--database-url",
         f"sqlite:///{database}"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "must not overwrite" in result.stderr
