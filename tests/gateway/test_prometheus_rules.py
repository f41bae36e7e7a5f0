"""deploy/prometheus/dispatchwire-rules.yml is valid, passes its promtool unit tests, and only
names metrics the app exports."""

import re
import shutil
import subprocess
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import dispatchwire.app  # noqa: F401  (imports every module that defines a metric)

ROOT = Path(__file__).parent.parent.parent
RULES = Path("deploy/prometheus/dispatchwire-rules.yml")
RULES_TESTS = Path("deploy/prometheus/dispatchwire-rules.test.yml")

# The series a metric family exposes, by type: a labelled family with no label values yet
# exposes no samples, so its names are derived from the family rather than read off samples.
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
    "gauge": ("",),
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    path = shutil.which("promtool")
    assert path, "promtool is missing: `apt-get install prometheus` (.ci/run installs it)"
    return subprocess.run([path, *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def rule_texts() -> list[str]:
    """Every rule's expression and annotations."""
    groups = yaml.safe_load((ROOT / RULES).read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    return [rule["expr"] for rule in rules] + [
        text for rule in rules for text in rule.get("annotations", {}).values()
    ]


def referenced_metrics() -> set[str]:
    """The app's metric names the rules use (recording rules, with ':', are left out)."""
    tokens = {t for text in rule_texts() for t in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", text)}
    return {t for t in tokens if t.startswith("dispatchwire_") and ":" not in t}


def exported_metrics() -> set[str]:
    names = set()
    for family in REGISTRY.collect():
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def test_promtool_checks_the_rules() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rules_pass_their_promtool_unit_tests() -> None:
    result = promtool("test", "rules", str(RULES_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout, result.stdout + result.stderr


def test_every_metric_the_rules_name_is_exported_by_the_app() -> None:
    used = referenced_metrics()
    assert {"dispatchwire_pending_polls_total", "dispatchwire_masters_on_shift",
            "dispatchwire_ws_reconnect_seconds_sum"} <= used, used
    missing = used - exported_metrics()
    assert not missing, f"the rules name metrics /metrics does not export: {sorted(missing)}"
