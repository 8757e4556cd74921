"""Regional and national figures from gemeenten' own rounds: unbiased sums with margins that cover."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from wijkindex.estimators.pooled import pooled_rows
from wijkindex.vocabulary import Z90

TRUTH = {"GM0001": (40, 900), "GM0002": (5, 120), "GM0003": (130, 2600)}  # numerator, denominator
SCALE = 6.0


def _laplace(rng: np.random.Generator, scale: float, size: int) -> np.ndarray:
    p = 1 - math.exp(-1 / scale)  # discrete Laplace as the difference of two geometrics
    return rng.geometric(p, size) - rng.geometric(p, size)


def _index(rng: np.random.Generator, period: int = 2024) -> pd.DataFrame:
    moe = Z90 * SCALE * math.sqrt(2)
    rows = []
    for code, (n, d) in TRUTH.items():
        rows.append({"period": period, "gemeente_code": code, "wijk_code": code, "area_code": code,
                     "area_level": "gemeente", "indicator": "x", "age_band": "0-3", "population": "population",
                     "numerator_noisy": n + int(_laplace(rng, SCALE, 1)[0]),
                     "denominator_noisy": d + int(_laplace(rng, SCALE, 1)[0]),
                     "numerator_moe90": moe, "denominator_moe90": moe})
    return pd.DataFrame(rows)


def test_pooled_rate_is_unbiased_and_its_margin_covers() -> None:
    """3000 re-noised draws, each its own period (so one call pools them all, a row per draw)."""
    rng = np.random.default_rng(7)
    true_rate = sum(n for n, _ in TRUTH.values()) / sum(d for _, d in TRUTH.values())
    draws = pd.concat([_index(rng, period=i) for i in range(3000)], ignore_index=True)
    rows = pooled_rows([draws], "NL01", "Nederland", "land")
    assert len(rows) == 3000 and (rows["n_gemeenten"] == 3).all()
    errors = rows["rate"] - true_rate
    covered = errors.abs() <= rows["moe90"]
    se = np.std(errors) / math.sqrt(len(errors))
    assert abs(np.mean(errors)) < 3 * se + 1e-5
    assert 0.87 <= np.mean(covered) <= 0.93


def test_missing_and_suppressed_gemeenten_are_said() -> None:
    ix = _index(np.random.default_rng(1))
    row = pooled_rows([ix], "GG01", "Regio", "ggd", members=["GM0001", "GM0002", "GM0009"]).iloc[0]
    assert row["n_gemeenten"] == 2 and row["n_members"] == 3 and row["gemeenten_missing"] == "GM0009"
    assert row["gemeenten_covered"] == "GM0001, GM0002"
    assert row["numerator_noisy"] == ix["numerator_noisy"].iloc[:2].sum()
    ix.loc[1, ["numerator_noisy", "denominator_noisy"]] = np.nan  # a suppressed gemeente row: not summed, said
    ix["suppressed"] = [False, True, False]
    row = pooled_rows([ix], "NL01", "Nederland", "land", members=list(TRUTH)).iloc[0]
    assert row["n_gemeenten"] == 2 and row["gemeenten_suppressed"] == "GM0002" and row["gemeenten_missing"] == ""
    assert row["numerator_noisy"] == ix["numerator_noisy"].iloc[[0, 2]].sum()
    ix["suppressed"] = True  # nothing left to sum: no figure
    row = pooled_rows([ix], "NL01", "Nederland", "land", members=list(TRUTH)).iloc[0]
    assert row["n_gemeenten"] == 0 and math.isnan(row["rate"]) and math.isnan(row["numerator_noisy"])


def test_a_later_round_of_a_gemeente_replaces_its_earlier_one() -> None:
    rng = np.random.default_rng(2)
    first, second = _index(rng), _index(rng)
    row = pooled_rows([first, second], "NL01", "Nederland", "land").iloc[0]
    assert row["n_gemeenten"] == 3 and row["numerator_noisy"] == second["numerator_noisy"].sum()
