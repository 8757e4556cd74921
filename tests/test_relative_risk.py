"""Relative risks from joint indicators' 2x2 tables: known answers, the Fieller interval's
coverage and the ratio's bias under re-noising, publication only where informative, the
estimator registry and config errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wijkindex.errors import ConfigError
from wijkindex.estimators.index import INDEX_COLUMNS
from wijkindex.estimators.relative_risk import (METHODS, RelativeRiskDef, Table2x2, estimate, fieller,
                                                load_relative_risks, relative_risks)
from wijkindex.report.html import section_relative_risk
from wijkindex.vocabulary import Z90

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
    assert row["published"] and row["rr_note"] == "" and row["method"] == "fieller"
    # bias-corrected: 2 / (1 + Vyy/Y^2 - Vxy/(XY)) with noise variance 9 on every released count
    x, y = 40 * 800, 200 * 80
    vyy = 200 ** 2 * 18 + 80 ** 2 * 9 - 9 * 18
    vxy = -9 * 800 * 200 - 9 * 40 * 80 + 81
    assert row["relative_risk"] == pytest.approx(2 / (1 + vyy / y ** 2 - vxy / (x * y)), abs=1e-4)
    # Fieller's bounds are where (X - r Y)^2 = z^2 Var(X - r Y)
    vxx = 40 ** 2 * 18 + 800 ** 2 * 9 - 9 * 18
    for r in (row["rr_low90"], row["rr_high90"]):
        assert (x - r * y) ** 2 == pytest.approx(Z90 ** 2 * (vxx - 2 * r * vxy + r * r * vyy), rel=1e-3)
    assert row["rr_low90"] < 2 < row["rr_high90"]
    assert (df["age_band"] == "0-17").sum() == 1


def test_no_unexposed_cases_is_not_published_and_says_why() -> None:
    row = relative_risks(index(1000, 200, 40, 40), (DEF,)).iloc[0]
    assert math.isnan(row["relative_risk"]) and not row["suppressed"] and not row["published"]
    assert row["rr_note"].startswith("te onzeker") and row["rr_note_en"].startswith("too uncertain")


def test_noisy_joint_count_is_hidden_with_its_reason() -> None:
    # noise SD 10 on the joint count, 12 exposed cases expected from the margins: not published
    row = relative_risks(index(1000, 200, 60, 6, moe=Z90 * 10), (DEF,)).iloc[0]
    assert not row["published"] and math.isnan(row["relative_risk"]) and math.isnan(row["rr_low90"])
    assert row["rr_note"].startswith("te onzeker: ruis") and row["rr_note_en"].startswith("too uncertain: noise")
    _, lo, hi = fieller(Table2x2(6, 200, 54, 800, 100, 100, 100, 100))
    assert lo == 0 or hi / lo > 10  # and its interval says nothing


def test_wide_interval_is_hidden_with_its_reason() -> None:
    # precise enough by the margins; its interval (3.3 - 4.8) spans a factor 1.45
    t = Table2x2(100, 1000, 100, 4000, 25, 25, 25, 25)
    assert estimate(t)[1] is None
    (rr, lo, hi), note = estimate(t, max_factor=1.3)
    assert math.isnan(rr) and note is not None and "factor 1.3" in note[0] and "factor 1.3" in note[1]


def test_suppressed_or_small_groups() -> None:
    assert relative_risks(index(1000, 200, 120, 40, sup=True), (DEF,)).iloc[0]["suppressed"]
    row = relative_risks(index(1000, 5, 120, 2), (DEF,)).iloc[0]  # fewer than 10 exposed
    assert row["suppressed"] and row["rr_note"] == "te weinig kinderen"


def test_missing_indicator_is_skipped() -> None:
    assert relative_risks(index(1000, 200, 120, 40), (RelativeRiskDef("x", "e", "other", "eo", "", ""),)).empty


def test_default_definitions_and_bad_entry(tmp_path: Path) -> None:
    assert {d.joint for d in load_relative_risks()} >= {"eenouder_en_psychosociaal", "smartstart_en_jeugdhulp"}
    bad = tmp_path / "index.toml"
    bad.write_text('version = 1\n[[relative_risk]]\nname = "x"\nexposure = "e"\njoint = "eo"\n')
    with pytest.raises(ConfigError, match=r"relative_risk\[0\]\.outcome: missing"):
        load_relative_risks(bad)


def test_estimator_is_chosen_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = 'version = 1\n[[relative_risk]]\nname = "x"\nexposure = "e"\noutcome = "o"\njoint = "eo"\n'
    path = tmp_path / "index.toml"
    path.write_text(entry + 'method = "delta"\nmax_factor = 5\n')
    (d,) = load_relative_risks(path)
    assert (d.method, d.max_factor) == ("delta", 5.0)
    path.write_text(entry + 'method = "magic"\n')
    with pytest.raises(ConfigError) as err:
        load_relative_risks(path)
    assert str(path) in str(err.value) and "'magic'" in str(err.value)
    assert all(name in str(err.value) for name in METHODS)
    path.write_text(entry + "max_factor = 1\n")
    with pytest.raises(ConfigError, match="max_factor"):
        load_relative_risks(path)
    # a new method is one function in the registry
    monkeypatch.setitem(METHODS, "constant", lambda t: (3.0, 2.0, 4.0))
    path.write_text(entry + 'method = "constant"\n')
    (d,) = load_relative_risks(path)
    row = relative_risks(index(1000, 200, 120, 40), (RelativeRiskDef("x", "e", "o", "eo", "", "", d.method),)).iloc[0]
    assert (row["relative_risk"], row["rr_low90"], row["rr_high90"], row["method"]) == (3.0, 2.0, 4.0, "constant")


def test_report_shows_the_reason_instead_of_a_number() -> None:
    rows = pd.concat([relative_risks(index(1000, 200, 60, 6, moe=Z90 * 10), (DEF,)),
                      relative_risks(index(1000, 5, 120, 2), (DEF,))], ignore_index=True)
    html = section_relative_risk(rows[rows["age_band"] == "0-17"])
    assert "te onzeker: ruis groter dan" in html and "te weinig kinderen" in html
    assert "&gt;100" not in html and "0.0 -" not in html


# ---- the guarantees under re-noising: coverage and bias over the published rows ------------------

# true tables (N, E, O, EO) and the noise scale of the joint count (the marginals: a quarter of it).
# PRECISE: noisy but inside the precision rule (joint noise SD 1/4.4 to 1/5 of the cases the margins
# imply, 10-30% of the joint count itself). NOISY: like the bench's gemeente rows at epsilon 1 (SD
# a third of the joint count): a rule on the noisy count would publish its lucky draws, biased upwards.
PRECISE = [(26000, 4200, 2650, 880, 60), (26000, 1400, 3000, 550, 25), (8000, 1000, 900, 300, 18),
           (1500, 400, 150, 40, 6), (3000, 500, 260, 90, 7)]
NOISY = [(26000, 4200, 2650, 880, 200), (26000, 1400, 3000, 550, 130)]
DRAWS = 700


def discrete_laplace(rng: np.random.Generator, scale: float, n: int) -> np.ndarray:
    p = 1 - math.exp(-1 / scale)
    return rng.geometric(p, n) - rng.geometric(p, n)


def dl_variance(scale: float) -> float:
    q = math.exp(-1 / scale)
    return 2 * q / (1 - q) ** 2


def renoised(grid: list[tuple[int, ...]], method: str = "fieller") -> tuple[np.ndarray, np.ndarray, int]:
    """Coverage and relative error of every published (table, draw), the grid re-noised DRAWS times,
    and how many (table, draw) were hidden."""
    rng = np.random.default_rng(2014)
    inside, err, hidden = [], [], 0
    for n_, e_, o_, eo, s in grid:
        true = (eo / e_) / ((o_ - eo) / (n_ - e_))
        vm, vj = dl_variance(s / 4), dl_variance(s)
        n, e, o = (x + discrete_laplace(rng, s / 4, DRAWS) for x in (n_, e_, o_))
        a = eo + discrete_laplace(rng, s, DRAWS)
        for nn, ee, oo, aa in zip(n, e, o, a):
            (rr, lo, hi), note = estimate(Table2x2(aa, ee, oo - aa, nn - ee, vj, vm, vm, vm), method)
            if note is None:
                inside.append(lo <= true <= hi)
                err.append(rr / true - 1)
            hidden += note is not None
    return np.array(inside), np.array(err), hidden


@pytest.fixture(scope="module")
def fieller_draws() -> tuple[np.ndarray, np.ndarray, int]:
    return renoised(PRECISE + NOISY)


def test_interval_covers_90_percent_of_published_rows(fieller_draws) -> None:
    inside, _, hidden = fieller_draws
    assert len(inside) > 0.95 * len(PRECISE) * DRAWS  # the precise tables are published in nearly every draw
    assert hidden > 0.95 * len(NOISY) * DRAWS  # the noisy ones hidden in nearly every draw
    assert 0.875 <= inside.mean() <= 0.925, inside.mean()  # MC SE about 0.5 percentage point


def test_published_ratio_is_nearly_unbiased(fieller_draws) -> None:
    _, err, _ = fieller_draws
    assert abs(err.mean()) < 0.02, err.mean()  # MC SE about 0.4 percentage point
    assert abs(np.median(err)) < 0.02


@settings(max_examples=50, deadline=None)
@given(st.integers(10, 500), st.integers(10, 500), st.integers(1, 9), st.integers(1, 9), st.integers(1, 5))
def test_scaling_invariance_and_zero_noise(e: int, u: int, pa: int, pb: int, k: int) -> None:
    a, b = max(1, e * pa // 10), max(1, u * pb // 10)
    base = relative_risks(index(e + u, e, a + b, a), (DEF,)).iloc[0]
    scaled = relative_risks(index(k * (e + u), k * e, k * (a + b), k * a), (DEF,)).iloc[0]
    assert base["relative_risk"] == pytest.approx(scaled["relative_risk"], rel=1e-3)
    assert base["relative_risk"] == pytest.approx((a / e) / (b / u), rel=1e-3)
    assert base["rr_low90"] == pytest.approx(base["relative_risk"], rel=1e-3)
    assert base["rr_high90"] == pytest.approx(base["relative_risk"], rel=1e-3)
