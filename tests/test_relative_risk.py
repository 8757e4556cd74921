"""Relative risks from joint indicators' 2x2 tables: known answers, intervals, suppression, config errors."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wijkindex.vocabulary import Z90
from wijkindex.estimators.index import INDEX_COLUMNS
from wijkindex.estimators.relative_risk import RelativeRiskDef, load_relative_risks, relative_risks
from wijkindex.errors import ConfigError

DEF = RelativeRiskDef("rr", "e", "o", "eo", "RR", "RR")


def index(n: int, e: int, o: int, eo: int, moe: float = 0.0, sup: bool = False) -> pd.DataFrame:
    rows = []
    for ind, num in (("e", e), ("o", o), ("eo", eo)):
        row = dict.fromkeys(INDEX_COLUMNS)
        row.update(period=2014, gemeente_code="GM0193", wijk_code="WK019301", wijk_name="Binnenstad",
                   age_band="0-3", indicator=ind, numerator=num, denominator=n, suppressed=sup,
                   numerator_noisy=num, denominator_noisy=n,
                   numerator_moe90=moe, denominator_moe90=moe)
        rows.append(row)
    return pd.DataFrame(rows)


def test_hand_computed_table() -> None:
    # exposed 200 with 40 cases (20%), unexposed 800 with 80 cases (10%): RR 2
    df = relative_risks(index(1000, 200, 120, 40, moe=Z90 * 3), (DEF,))
    row = df[df["age_band"] == "0-3"].iloc[0]
    assert row["relative_risk"] == pytest.approx(2.0)
    var = 9 * ((1 / 40 + 1 / 80) ** 2 + (1 / 200 + 1 / 800) ** 2 + 1 / 80 ** 2 + 1 / 800 ** 2)
    assert row["rr_low90"] == pytest.approx(2 * math.exp(-Z90 * math.sqrt(var)), abs=1e-4)
    assert row["rr_high90"] == pytest.approx(2 * math.exp(Z90 * math.sqrt(var)), abs=1e-4)
    assert (df["age_band"] == "0-17").sum() == 1


def test_no_unexposed_cases_gives_no_ratio() -> None:
    row = relative_risks(index(1000, 200, 40, 40), (DEF,)).iloc[0]
    assert math.isnan(row["relative_risk"]) and not row["suppressed"]


def test_suppressed_or_small_groups() -> None:
    assert relative_risks(index(1000, 200, 120, 40, sup=True), (DEF,)).iloc[0]["suppressed"]
    assert relative_risks(index(1000, 5, 120, 2), (DEF,)).iloc[0]["suppressed"]  # fewer than 10 exposed


def test_missing_indicator_is_skipped() -> None:
    assert relative_risks(index(1000, 200, 120, 40), (RelativeRiskDef("x", "e", "other", "eo", "", ""),)).empty


def test_default_definitions_and_bad_entry(tmp_path: Path) -> None:
    assert {d.joint for d in load_relative_risks()} >= {"eenouder_en_psychosociaal", "smartstart_en_jeugdhulp"}
    bad = tmp_path / "index.toml"
    bad.write_text('version = 1\n[[relative_risk]]\nname = "x"\nexposure = "e"\njoint = "eo"\n')
    with pytest.raises(ConfigError, match=r"relative_risk\[0\]\.outcome: missing"):
        load_relative_risks(bad)


@settings(max_examples=50, deadline=None)
@given(st.integers(10, 500), st.integers(10, 500), st.integers(1, 9), st.integers(1, 9), st.integers(1, 5))
def test_scaling_invariance_and_zero_noise(e: int, u: int, pa: int, pb: int, k: int) -> None:
    a, b = max(1, e * pa // 10), max(1, u * pb // 10)
    base = relative_risks(index(e + u, e, a + b, a), (DEF,)).iloc[0]
    scaled = relative_risks(index(k * (e + u), k * e, k * (a + b), k * a), (DEF,)).iloc[0]
    assert base["relative_risk"] == pytest.approx(scaled["relative_risk"], rel=1e-3)
    assert base["rr_low90"] == pytest.approx(base["relative_risk"], rel=1e-3)
    assert base["rr_high90"] == pytest.approx(base["relative_risk"], rel=1e-3)
