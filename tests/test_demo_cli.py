"""The user's path: the `wijkindex` command, its help, and the demo as separate processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest



def _commands() -> list[list[str]]:
    """Every group and command of the CLI, walked from its tree (a new one is covered unasked)."""
    import click

    from wijkindex.cli import main

    out: list[list[str]] = []

    def walk(group: click.Group, path: list[str]) -> None:
        for name, cmd in sorted(group.commands.items()):
            out.append([*path, name])
            if isinstance(cmd, click.Group):
                walk(cmd, [*path, name])
    walk(main, [])
    return out


COMMANDS = _commands()


def wijkindex(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wijkindex", *args], capture_output=True, text=True,
                          timeout=900, check=check)


@pytest.mark.parametrize("cmd", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(cmd: list[str]) -> None:
    out = wijkindex(*cmd, "--help").stdout
    assert "Example:" in out and "wijkindex " + " ".join(cmd) in out


def test_bad_spec_gets_a_clear_error_before_the_network(tmp_path: Path) -> None:
    spec = tmp_path / "round.toml"
    spec.write_text('version = 1\nperiod = 2014\ngemeente = "GM0193"\nspine = "gemeente"\n'
                    '[nodes.gemeente]\nprivacy_loss = -3\nindicators = ["jeugdhulp"]\n')
    cfg = tmp_path / "coordinator.toml"
    cfg.write_text("version = 1\n")
    r = wijkindex("round", "start", "--spec", str(spec), "--config", str(cfg), check=False)
    assert r.returncode == 2
    assert "nodes.gemeente.privacy_loss" in r.stderr and "WI210" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.slow
def test_demo_end_to_end_in_separate_processes(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    r = wijkindex("demo", "--out", str(out), "--scale", "0.05", "--seed", "3")
    assert "completed" in r.stderr
    index = pd.read_csv(out / "index.csv")
    assert set(index["source"]) >= {"gemeente", "ggd", "school", "gemeente+ggd", "gemeente+school"}
    assert index["indicator"].nunique() == 15 + 4 + 4  # marginals, four joint, four cumulative-risk levels
    assert "gemeente+ggd+school" in set(index["source"])
    pq = pd.read_parquet(out / "index.parquet")
    assert len(pq) == len(index)
    reference = pd.read_csv(out / "reference.csv")  # Zwolle's CBS figures beside its region and the country
    assert {"NL01", "GG1009", "JZ07", "GM0193"} <= set(reference["area_code"])
    assert (index["source"] == "referentie").sum() == len(reference)
    assert (out / "report.html").read_text(encoding="utf-8").count("<table") >= 12
    composite = pd.read_csv(out / "composite.csv")
    assert set(composite["domain"]) == {"gezin", "zorg", "gezondheid", "onderwijs", "beschermend", "totaal"}
    assert (out / "federation" / "truth" / "truth.csv").exists()
    history = pd.read_csv(out / "history.csv")
    assert sorted(history["period"].unique()) == [2012, 2013, 2014]  # one round per period, for the trend
    linkage = pd.read_csv(out / "linkage.csv")  # the GGD's survey records linked on identifiers
    assert list(linkage["node"]) == ["ggd"] and linkage.loc[0, "linked_fuzzy"] > 0
    assert "only on identifiers" in r.stdout + r.stderr
    rr = pd.read_csv(out / "relative_risk.csv")
    assert {"eenouder_psychosociaal", "smartstart_jeugdhulp"} <= set(rr["name"])
    report = (out / "report.html").read_text(encoding="utf-8")
    for section in ("Gestapelde risico", "Relatieve risico", "Ontwikkeling over de jaren"):
        assert section in report
    for log in (out / "logs").glob("*.log"):
        text = log.read_text(encoding="utf-8", errors="replace")
        secret = (out / "secrets" / "linkage.key").read_bytes().split()[-1]  # the hex line, not the header
        assert secret.decode(errors="ignore") not in text or not secret
