"""Each role's commands as a user types them, against a running federation on loopback."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from conftest import Running
from test_demo_cli import wijkindex

pytestmark = pytest.mark.slow


def test_coordinator_and_researcher_commands(running: Running, tmp_path: Path) -> None:
    spec = tmp_path / "round.toml"
    spec.write_text(running.spec(epsilon=0.5, round_id="cli-round"), encoding="utf-8")
    coord, researcher = str(running.fed.coordinator_config), str(running.fed.researcher_config)
    started = wijkindex("round", "start", "--spec", str(spec), "--config", coord, "--wait")
    assert started.stdout.strip() == "cli-round"
    assert "completed" in started.stderr and "epsilon 1.5" in started.stderr  # 3 nodes x 0.5 per child
    status = wijkindex("round", "status", "cli-round", "--config", coord)
    assert "completed" in status.stdout and "ggd" in status.stdout  # data on stdout
    listed = wijkindex("results", "list", "--config", researcher)
    assert "cli-round" in listed.stdout
    wijkindex("results", "export", "cli-round", "--out", str(tmp_path / "out"), "--config", researcher)
    index = pd.read_csv(tmp_path / "out" / "index.csv")
    assert set(index["round_id"]) == {"cli-round"} and index["indicator"].nunique() == 15  # 6 + 5 + 4 holders' indicators
    wijkindex("report", "cli-round", "--out", str(tmp_path / "rep"), "--config", researcher)
    html = (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")
    assert "id='wi-map'" in html and "Samengestelde scores" in html
    assert (tmp_path / "rep" / "composite.csv").exists()
    denied = wijkindex("results", "export", "cli-round", "--out", str(tmp_path / "x"), "--config", coord,
                       check=False)
    assert denied.returncode == 2 and "PERMISSION_DENIED" in denied.stderr
    assert not (tmp_path / "x" / "index.csv").exists()


def test_synth_pki_and_secret_commands(tmp_path: Path) -> None:
    out = wijkindex("synth", "--out", str(tmp_path / "fed"), "--seed", "5", "--scale", "0.02")
    assert "FOR EVALUATION ONLY" in out.stderr
    assert (tmp_path / "fed" / "truth" / "truth.csv").exists()
    again = wijkindex("synth", "--out", str(tmp_path / "fed"), check=False)
    assert again.returncode == 2 and "not empty" in again.stderr
    pki = wijkindex("pki", "init", str(tmp_path / "pki"), "--node", "gemeente", "--node", "ggd")
    assert "urn:wijkindex:node:ggd" in pki.stderr
    wijkindex("secret", "new", str(tmp_path / "s" / "linkage.key"))
    assert (tmp_path / "s" / "linkage.key").stat().st_mode & 0o777 == 0o600
