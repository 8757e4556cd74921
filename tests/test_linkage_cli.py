"""`wijkindex linkage evaluate` on files with known links, and its errors on bad input."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from wijkindex.cli import main
from wijkindex.synth.corrupt import corrupt
from wijkindex.synth.names import FIRST_NAMES_F, FIRST_NAMES_M, SURNAMES


def _files(tmp_path: Path, n: int = 400) -> tuple[Path, Path]:
    rng = random.Random(5)
    rows = [{"child_id": f"C{i}", "voornaam": rng.choice(FIRST_NAMES_F + FIRST_NAMES_M),
             "achternaam": rng.choice(SURNAMES),
             "geboortedatum": f"20{rng.randint(5, 19):02d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
             "geslacht": rng.choice("MV"), "postcode": f"80{rng.randint(10, 46)} {rng.choice('ABCD')}{rng.choice('EFGH')}"}
            for i in range(n)]
    a = pd.DataFrame(rows)
    b = corrupt(a.iloc[: n // 2].copy(), rng, rate=0.5)  # half the children, half of them with typing errors
    pa, pb = tmp_path / "spine.csv", tmp_path / "ggd.csv"
    a.to_csv(pa, index=False)
    b.sample(frac=1, random_state=1).to_csv(pb, index=False, sep=";")  # a holder's ';' export
    return pa, pb


def test_evaluate_prints_precision_recall_f1_and_speed(tmp_path: Path) -> None:
    pa, pb = _files(tmp_path)
    out = CliRunner().invoke(main, ["linkage", "evaluate", str(pa), str(pb), "--entity", "child_id"],
                             terminal_width=120)
    assert out.exit_code == 0, out.output
    lines = {ln.split("│")[1].strip(): ln.split("│")[2].strip() for ln in out.output.splitlines() if ln.count("│") >= 3}
    assert lines["true links"] == "200"
    assert float(lines["F1"]) >= 0.97 and float(lines["precision"]) >= 0.98
    assert "encodings per second" in lines and "comparisons per second" in lines


def test_evaluate_names_a_missing_column_and_file(tmp_path: Path) -> None:
    pa, pb = _files(tmp_path)
    pd.read_csv(pb, sep=";").drop(columns="postcode").to_csv(pb, index=False)
    out = CliRunner().invoke(main, ["linkage", "evaluate", str(pa), str(pb), "--entity", "child_id"])
    assert out.exit_code != 0
    assert "ggd.csv" in out.output and "postcode" in out.output


def test_evaluate_rejects_a_bad_schema_file(tmp_path: Path) -> None:
    pa, pb = _files(tmp_path, 50)
    schema = tmp_path / "schema.toml"
    schema.write_text('[[field]]\ncolumn = "voornaam"\nkind = "nickname"\n')
    out = CliRunner().invoke(main, ["linkage", "evaluate", str(pa), str(pb), "--entity", "child_id",
                                    "--schema", str(schema)])
    assert out.exit_code != 0 and "nickname" in out.output
