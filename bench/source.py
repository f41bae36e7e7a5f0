"""Which dispatchwire runs: the working tree, or a git revision unpacked beside it (--ref)."""

import subprocess
import sys
from pathlib import Path

from bench.seed import REPO

__all__ = ["describe_source", "export_source"]


def _git(*args: str) -> str:
    out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    return out.stdout.strip()


def export_source(ref: str, into: Path) -> Path:
    """dispatchwire's src/ at a git revision, unpacked into `into` (the repository is only
    read); the path to put on PYTHONPATH."""
    archive = subprocess.run(["git", "archive", ref, "src"], cwd=REPO, capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    # Compiled now, as the working tree's are: a module first imported during a step (lazily,
    # or by a traceback's formatting) would otherwise stall that step while it compiles.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(into / "src")], check=True)
    return into / "src"


def describe_source(ref: str | None) -> str:
    """Which dispatchwire was measured: a revision, or the working tree (and if it differs)."""
    if ref:
        return f"{ref} ({_git('rev-parse', '--short', ref)})"
    dirty = " with uncommitted changes in src/" if _git("status", "--porcelain", "src") else ""
    return f"working tree at {_git('rev-parse', '--short', 'HEAD')}{dirty}"
