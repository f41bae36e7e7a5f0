"""The README's set-up lines and its curl walk are true."""

import re
import shutil
import subprocess
from pathlib import Path

from tests.server import ServerProcess

README = Path(__file__).parent.parent / "README.md"


def walk_script() -> str:
    text = README.read_text()
    section = text[text.index("## An order from creation to completion"):]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def test_readme_opens_with_make_run_and_make_test() -> None:
    head = "\n".join(README.read_text().splitlines()[:10])
    assert "make run" in head and "make test" in head


def test_the_curl_walk_takes_an_order_to_completed(tmp_path: Path) -> None:
    assert shutil.which("jq"), "the README walk needs jq (.ci/run installs it)"
    database = f"sqlite:///{tmp_path / 'walk.db'}"
    with ServerProcess(database_url=database, args=("--demo",),
                       log_path=tmp_path / "server.log") as server:
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", walk_script()],
                                env={"API": server.url, "PATH": "/usr/bin:/bin"},
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr + (tmp_path / "server.log").read_text()
    lines = result.stdout.splitlines()
    assert '{"onShift":true}' in lines
    assert lines.count("in_progress") == 1 and lines.count("completed") == 1
    assert '"status": "completed",' in result.stdout
    assert '"phone": "+1 555 0199"' in result.stdout  # the client's contact after accepting
