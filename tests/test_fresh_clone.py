"""The demo from a clone in an empty folder, with no ../shared beside it: everything the
commands need ships inside the package (the geography, the CBS figures, the regions)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_demo_runs_from_a_clone_with_nothing_beside_it(tmp_path: Path) -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    clone = tmp_path / "empty" / "wijkindex"
    clone.parent.mkdir()
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{ROOT}", str(clone)], check=True, timeout=120)
    assert not (clone.parent / "shared").exists() and list(clone.parent.iterdir()) == [clone]
    env = {**os.environ, "PYTHONPATH": str(clone)}
    where = subprocess.run([sys.executable, "-c", "import wijkindex; print(wijkindex.__file__)"], cwd=clone, env=env,
                           capture_output=True, text=True, check=True)
    assert where.stdout.strip().startswith(str(clone))  # the clone's code and package data, not this checkout's
    out = tmp_path / "demo"
    r = subprocess.run([sys.executable, "-m", "wijkindex", "demo", "--gemeente", "Vlieland", "--scale", "0.5",
                        "--years", "1", "--out", str(out)], cwd=clone, env=env, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    for name in ("index.csv", "reference.csv", "report.html"):
        assert (out / name).exists(), name
    assert "/shared/" not in (out / "report.html").read_text(encoding="utf-8")
