"""The terminal apps, run as commands: `dispatchwire master` driven in a pseudo-terminal
through an offer, an accept and a completion; `dispatchwire watch` printing a resumed,
gap-free event log across a server restart. Both ack what they have shown."""

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pexpect

from tests.client.conftest import (
    Server,
    call,
    delivered_via,
    eventually,
    pending_offers,
    place_order,
    register,
    unique_appliance,
)

COMMAND = [sys.executable, "-m", "dispatchwire"]


def spawn_master(server: Server, email: str, password: str, log: Path, *args: str,
                 **env: str) -> pexpect.spawn:
    """The app in a terminal of 160 columns; English unless `args` or `env` say otherwise."""
    base = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LC_MESSAGES")}
    # The size said outright: rich reads COLUMNS first, and a guess of 80 wraps the tables.
    size = {"COLUMNS": "160", "LINES": "50"}
    app = pexpect.spawn(COMMAND[0], [*COMMAND[1:], "master", "--url", server.url, "--email",
                                     email, "--password", password, "--poll-interval", "0.5",
                                     "--backoff-base", "0.05", "--backoff-cap", "0.3", *args],
                        env={**base, **size, "LANG": "C.UTF-8", "TERM": "xterm-256color", **env},
                        dimensions=(50, 160), encoding="utf-8", timeout=10)
    app.logfile_read = log.open("a")
    return app


async def expect(app: pexpect.spawn, pattern: str) -> None:
    """`app.expect` off the event loop, which the test's own REST calls share."""
    await asyncio.to_thread(app.expect, pattern)


async def test_the_master_app_takes_an_offer_to_completed(make_server: Any,
                                                          tmp_path: Path) -> None:
    server: Server = make_server()
    appliance = unique_appliance()
    master = await register(server, "master", specializations=[appliance])
    customer = await register(server, "client")
    app = spawn_master(server, master.email, master.password, tmp_path / "tty.log")
    try:
        await expect(app, "connected: offers come live")
        assert (await call(server, "GET", "/api/masters/me", master))["onShift"] is True
        placed = await place_order(server, customer, appliance)
        await expect(app, f"new offer \\d+: {appliance} at 1 Main St")
        await expect(app, r"4:5\d")  # the countdown to the deadline, 300 s away
        [offer] = pending_offers(server, master.user["masterId"])
        assert await eventually(lambda: delivered_via(server, offer)) == "socket"  # acked
        app.send("a")
        await expect(app, f"accepted offer \\d+: order {placed['id']}, call Client")
        await expect(app, r"\+1 555 0100")  # the client's phone, after accepting
        await expect(app, f"order {placed['id']} is now assigned")
        app.send("p")
        await expect(app, f"order {placed['id']} is now in_progress")
        app.send("c")
        await expect(app, f"order {placed['id']} is now completed")
        order = await call(server, "GET", f"/api/orders/{placed['id']}", customer)
        assert order["status"] == "completed"

        server.kill()  # the app shows that it has fallen back to polling
        await expect(app, "socket down: reconnecting")
        await expect(app, "socket down: polling every 0.5 s")
        await server.restart()
        await expect(app, "connected: offers come live")
        app.send("q")
        await expect(app, "shift ended")
        await asyncio.to_thread(app.expect, pexpect.EOF)
    finally:
        app.close(force=True)
    assert app.exitstatus == 0, (tmp_path / "tty.log").read_text()
    assert (await call(server, "GET", "/api/masters/me", master))["onShift"] is False


async def test_watch_prints_a_resumed_event_log(make_server: Any, tmp_path: Path) -> None:
    server: Server = make_server()
    appliance = unique_appliance()
    master = await register(server, "master", specializations=[appliance])
    customer = await register(server, "client")
    await call(server, "POST", "/api/masters/me/shift/start", master)
    first = await place_order(server, customer, appliance)  # event 1, before watching
    with (tmp_path / "out.jsonl").open("w") as out, (tmp_path / "err.log").open("w") as err:
        watch = await asyncio.create_subprocess_exec(
            *COMMAND, "watch", "--url", server.url, "--email", master.email, "--password",
            master.password, "--last-event-id", "0", "--backoff-base", "0.05",
            "--backoff-cap", "0.3", stdout=out, stderr=err)

    def frames() -> list[dict[str, Any]]:
        lines = (tmp_path / "out.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]

    def event_ids() -> list[int]:
        return [f["eventId"] for f in frames() if "eventId" in f]

    try:
        await eventually(lambda: event_ids() == [1], within=10)
        assert frames()[0]["type"] == "auth_success"
        offer_id = frames()[1]["assignment"]["id"]
        assert await eventually(lambda: delivered_via(server, offer_id)) == "socket"  # acked
        [offer] = await call(server, "GET", "/api/assignments/pending", master)
        await call(server, "POST", f"/api/assignments/{offer['id']}/accept", master)
        await eventually(lambda: event_ids() == [1, 2])
        server.kill()
        await server.restart()
        await call(server, "POST", f"/api/orders/{first['id']}/status", master,
                   json={"status": "in_progress"})
        await eventually(lambda: event_ids() == [1, 2, 3], within=10)  # resumed after 2
        # live again once subscribed, which may come just after the replayed event
        await eventually(lambda: (tmp_path / "err.log").read_text().splitlines()
                         .count("# connected") == 2, within=10)
    finally:
        watch.terminate()
        try:
            await asyncio.wait_for(watch.wait(), 10)
        finally:
            if watch.returncode is None:
                watch.kill()
                await watch.wait()
    assert watch.returncode == 0, (tmp_path / "err.log").read_text()
    types = [f["type"] for f in frames() if "eventId" in f]
    assert types == ["new_assignment", "order_status_update", "order_status_update"]
    assert [f["type"] for f in frames()].count("auth_success") == 2
    notes = (tmp_path / "err.log").read_text().splitlines()
    assert "# reconnecting" in notes
    assert notes.count("# connected") == 2, notes  # at the start and after the restart, once
    assert notes[-1] == "# closed", notes  # SIGTERM: one line
