"""The README's set-up lines and its curl walk are true: the walk takes its own order to
completed even with an older offer pending for its master, shows the server's answer when a
call is refused, and no link in the README or docs/ leads out of the repository."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx

from tests.server import ServerProcess

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"


def walk_script() -> str:
    text = README.read_text()
    section = text[text.index("## An order from creation to completion"):]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def run_walk(api: str) -> subprocess.CompletedProcess[str]:
    assert shutil.which("jq"), "the README walk needs jq (.ci/run installs it)"
    return subprocess.run(["bash", "-euo", "pipefail", "-c", walk_script()],
                          env={"API": api, "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60)


def test_readme_opens_with_make_run_and_make_test() -> None:
    head = "\n".join(README.read_text().splitlines()[:10])
    assert "make run" in head and "make test" in head


def demo(server: ServerProcess, method: str, path: str, who: str = "",
         **kwargs: object) -> dict:  # type: ignore[type-arg]
    """A call as a demo account ('master1', 'client') or no one."""
    headers = {}
    if who:
        password = "client-demo-1" if who == "client" else f"{who[:-1]}-demo-{who[-1]}"
        login = httpx.post(server.url + "/api/auth/login", timeout=10,
                           json={"email": f"{who}@example.com", "password": password})
        headers["Authorization"] = f"Bearer {login.json()['token']}"
    response = httpx.request(method, server.url + path, headers=headers, timeout=10,
                             **kwargs)  # type: ignore[arg-type]
    assert response.status_code < 300, response.text
    return response.json()  # type: ignore[no-any-return]


def test_the_curl_walk_takes_its_own_order_to_completed(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'walk.db'}"
    with ServerProcess(database_url=database, args=("--demo",),
                       log_path=tmp_path / "server.log") as server:
        # An earlier run's order, offered to master1 and left pending, and one waiting.
        demo(server, "POST", "/api/masters/me/shift/start", "master1")
        older = [demo(server, "POST", "/api/orders", "client", json={
            "applianceType": "washing_machine", "problem": f"older {n}", "address": "1 Old St"})
            for n in (1, 2)]
        [stale] = demo(server, "GET", "/api/assignments/pending", "master1")  # type: ignore
        assert stale["orderId"] == older[0]["id"]
        result = run_walk(server.url)
        assert result.returncode == 0, result.stderr + (tmp_path / "server.log").read_text()
        placed = int(re.findall(r"^order (\d+) placed$", result.stdout, re.M)[0])
        assert placed not in [order["id"] for order in older]
        mine = demo(server, "GET", f"/api/orders/{placed}", "client")
        others = [demo(server, "GET", f"/api/orders/{order['id']}", "client") for order in older]
    lines = result.stdout.splitlines()
    declined = [json.loads(line) for line in lines if line.startswith('{"declined"')]
    assert declined == [{"declined": stale["id"], "order": older[0]["id"]},
                        {"declined": declined[1]["declined"], "order": older[1]["id"]}]
    assert '{"onShift":true}' in lines
    assert lines.count("in_progress") == 1 and lines.count("completed") == 1
    assert '"phone": "+1 555 0199"' in result.stdout  # the client's contact after accepting
    assert mine["status"] == "completed" and mine["master"]["name"] == "Boris Washer"
    assert [order["status"] for order in others] == ["new", "new"]  # never taken by the walk
    assert result.stderr == ""


def test_the_walk_shows_the_servers_answer_when_refused(tmp_path: Path) -> None:
    """No demo accounts: the first login is refused, and the walk says what the server said."""
    with ServerProcess(database_url=f"sqlite:///{tmp_path / 'empty.db'}") as server:
        result = run_walk(server.url)
    assert result.returncode != 0
    assert result.stderr.splitlines()[0] == \
        'POST /api/auth/login: HTTP 401 {"detail":"wrong email or password"}', result.stderr
    assert "placed" not in result.stdout


def test_no_link_leaves_the_repository() -> None:
    documents = [README, *sorted((ROOT / "docs").glob("*.md")), *sorted(ROOT.glob("*.md"))]
    checked = 0
    for document in dict.fromkeys(documents):
        for target in re.findall(r"\]\(([^)\s]+)\)", document.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # a web address or an anchor on the same page
            path = (document.parent / target.split("#")[0]).resolve()
            assert path.is_relative_to(ROOT) and path.exists(), (document.name, target)
            checked += 1
    assert checked >= 5
    assert "../shared" not in README.read_text()
