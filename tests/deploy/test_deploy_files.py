"""The files in deploy/ work as they are: the systemd unit passes `systemd-analyze verify`, the
nginx site passes `nginx -t`, and the Grafana dashboard queries only metrics that a running
server serves. (`make cluster` runs the nginx site: tests/cluster/test_make_cluster.py; the
Prometheus rules: tests/gateway/test_prometheus_rules.py.)"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_SECRET
from tests.server import ServerProcess

DEPLOY = Path(__file__).parents[2] / "deploy"
UNIT = DEPLOY / "systemd" / "dispatchwire.service"
SITE = DEPLOY / "nginx" / "dispatchwire.conf"
DASHBOARD = DEPLOY / "grafana" / "dispatchwire-dashboard.json"
INSTALLED = "/opt/dispatchwire/.venv/bin/dispatchwire"  # where the unit expects the install
METRIC = re.compile(r"\b(?:dispatchwire|process|up)(?:_[a-z0-9_]+)?\b(?![(:])")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (Debian's systemd package; "
                           ".ci/run installs it)")
def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    text = UNIT.read_text()
    assert f"ExecStart={INSTALLED} serve --env-file " in text
    assert "User=dispatchwire" in text and "KillSignal=SIGTERM" in text
    # Verified with the command this test runs with, since verify checks that it exists.
    command = str(Path(sys.executable).parent / "dispatchwire")
    unit = tmp_path / "dispatchwire.service"
    unit.write_text(text.replace(INSTALLED, command))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, timeout=60)
    # A key systemd does not know is only a warning: nothing may be said at all.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_a_misspelt_key_in_a_unit_is_caught(tmp_path: Path) -> None:
    """The check above can fail: a misspelt key, which systemd would ignore, is reported."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    unit = tmp_path / "dispatchwire.service"
    unit.write_text(UNIT.read_text().replace(INSTALLED, sys.executable)
                    .replace("KillSignal", "KilSignal"))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, timeout=60)
    assert "KilSignal" in result.stderr


def nginx_test(site: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on `site` inside a minimal configuration kept in `tmp_path`."""
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
                    "events {}\nhttp {\n"
                    + "".join(f"  {kind}_temp_path {tmp_path}/tmp;\n"
                              for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
                    + f"  include {site};\n}}\n")
    return subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
                           "-c", str(conf)], capture_output=True, text=True, timeout=60)


def test_the_nginx_site_passes_nginx_t(tmp_path: Path) -> None:
    assert shutil.which("nginx"), "nginx is needed (.ci/run installs it)"
    result = nginx_test(SITE, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    broken = tmp_path / "broken.conf"
    broken.write_text(SITE.read_text().replace("proxy_http_version 1.1;", "proxy_http_version"))
    assert nginx_test(broken, tmp_path).returncode != 0  # the check can fail


def served_metrics(tmp_path: Path) -> set[str]:
    """Every series name a fresh server process exposes at /metrics."""
    env = {"DISPATCHWIRE_JWT_SECRET": TEST_SECRET, "DISPATCHWIRE_LOG_LEVEL": "warning"}
    with ServerProcess(database_url=f"sqlite:///{tmp_path / 'dw.db'}", env=env) as server:
        text = httpx.get(server.url + "/metrics", timeout=10).text
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            if kind == "histogram":
                names.update(name + suffix for suffix in ("_bucket", "_sum", "_count"))
            if kind == "counter":
                names.add(name.removesuffix("_total") + "_total")
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def test_the_dashboard_queries_only_metrics_the_server_serves(tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "dispatchwire" and dashboard["schemaVersion"] >= 30
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    exprs = [t["expr"] for p in panels for t in p["targets"]]
    assert len(panels) >= 10 and all(p["targets"] for p in panels)
    served = served_metrics(tmp_path) | {"up"}  # `up` is Prometheus' own, per scrape target
    assert "dispatchwire_ws_connections" in served
    queried = set()
    for expr in exprs:
        # Label names, the values in quotes and functions' names are not metrics.
        bare = re.sub(r'\{[^}]*\}|"[^"]*"|\b(by|without)\s*\([^)]*\)', "", expr)
        found = set(METRIC.findall(bare))
        assert found, f"no metric in {expr!r}"
        queried |= found
    assert queried - served == set(), f"not served: {sorted(queried - served)}"
    assert len(queried & served) >= 15  # the dashboard covers what the server measures


def test_the_grafana_variables_name_a_prometheus_datasource() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    [variable] = dashboard["templating"]["list"]
    assert (variable["name"], variable["query"]) == ("datasource", "prometheus")
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}"
