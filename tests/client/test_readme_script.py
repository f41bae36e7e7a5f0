"""The README's SDK script, as it is written there, takes an offer to completed against a real
server with the demo accounts (found through DISPATCHWIRE_URL), and each stop signal ends the
shift and the script with one line."""

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from tests.client.conftest import Account, Server, call

README = Path(__file__).parents[2] / "README.md"
DEMO_MASTER = Account("master1@example.com", "master-demo-1", "", {})
DEMO_CLIENT = Account("client@example.com", "client-demo-1", "", {})


def readme_script() -> str:
    text = README.read_text()
    section = text[text.index("## Python client SDK"):]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, "the README's SDK section has no python block"
    return found.group(1)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=lambda s: s.name)
async def test_the_readme_script_accepts_and_completes_an_offer(
        shared_server: Server, tmp_path: Path, stop: signal.Signals) -> None:
    script = readme_script()
    assert len(script.strip().splitlines()) <= 24  # short enough to read at a glance
    server = shared_server
    path = tmp_path / "master.py"
    path.write_text(script)
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(path), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env={**os.environ, "DISPATCHWIRE_URL": server.url})
    stdout = process.stdout
    assert stdout is not None
    lines: list[str] = []

    async def read_until(text: str) -> None:
        while text not in (line := (await stdout.readline()).decode()):
            assert line, "the script ended early:\n" + "".join(lines)
            lines.append(line)
        lines.append(line)

    try:
        await asyncio.wait_for(read_until("waiting for offers"), 15)
        order = await call(server, "POST", "/api/orders", DEMO_CLIENT, expect=201, json={
            "applianceType": "washing_machine", "problem": "Drum does not spin",
            "address": "12 Baker St"})
        await asyncio.wait_for(read_until(f"order {order['id']} completed"), 15)
        process.send_signal(stop)
        assert await asyncio.wait_for(process.wait(), 15) == 0, "".join(lines)
        rest = (await stdout.read()).decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert rest.splitlines() == [f"stopped by {stop.name}: shift ended"], rest
    output = "".join(lines)
    assert "12 Baker St" in output and "Drum does not spin" in output
    assert "+1 555 0199" in output  # the demo client's phone, seen after accepting
    done = await call(server, "GET", f"/api/orders/{order['id']}", DEMO_CLIENT)
    assert done["status"] == "completed"
    assert (await call(server, "GET", "/api/masters/me", DEMO_MASTER))["onShift"] is False
