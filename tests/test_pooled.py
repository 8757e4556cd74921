"""Regional and national figures from gemeenten' own rounds: unbiased sums with margins that cover."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

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


def _round(codes: dict[str, tuple[int, int]], period: int = 2014, suppressed: tuple[str, ...] = ()) -> pd.DataFrame:
    moe = Z90 * SCALE * math.sqrt(2)
    return pd.DataFrame([{"period": period, "gemeente_code": c, "wijk_code": c, "wijk_name": c, "area_code": c,
                          "area_level": "gemeente", "indicator": "x", "age_band": "0-3", "population": "population",
                          "numerator_noisy": pd.NA if c in suppressed else n,
                          "denominator_noisy": pd.NA if c in suppressed else d, "numerator_moe90": moe,
                          "denominator_moe90": moe, "suppressed": c in suppressed, "rate": n / d, "moe90": 0.05,
                          "round_id": f"r-{c}"} for c, (n, d) in codes.items()])


def test_comparisons_pool_the_areas_and_leave_out_a_gemeente_compared_with_itself() -> None:
    """Zwolle against the country, GGD IJsselland, jeugdzorgregio IJsselland and its peers, with
    Deventer (a peer, same GGD region) and Kampen (same GGD region, not a peer) in the federation;
    a gemeente outside the CBS list (GM9001) gets no areas and counts in none."""
    from wijkindex.estimators.pooled import comparisons
    from wijkindex.estimators.reference import peer_gemeenten

    others = _round({"GM0150": (30, 400), "GM0166": (-3, 150), "GM9001": (50, 500)})
    zwolle = _round({"GM0193": (40, 900)})
    rows = comparisons([others, zwolle], ["GM0193"]).set_index("area_code")
    assert list(rows.index) == ["NL01", "GG1009", "JZ07", "VG0193"]
    assert rows.loc["NL01", "numerator_noisy"] == 40 + 30 - 3 and rows.loc["NL01", "denominator_noisy"] == 1450
    assert rows.loc["NL01", "n_gemeenten"] == 3 and rows.loc["NL01", "n_members"] == 342
    assert rows.loc["VG0193", "gemeenten_covered"] == "GM0150"  # a peer; Zwolle itself is not its own peer
    assert rows.loc["VG0193", "n_members"] == len(peer_gemeenten("GM0193"))
    assert rows.loc["NL01", "numerator_moe90"] == pytest.approx(math.sqrt(3) * Z90 * SCALE * math.sqrt(2))
    assert set(rows["compared_with"]) == {"GM0193"}
    # Zwolle alone: nothing but itself to compare with, so no rows at all
    assert comparisons([zwolle], ["GM0193"]).empty
    # Deventer suppressed: left out and said
    rows = comparisons([_round({"GM0150": (30, 400)}, suppressed=("GM0150",)), zwolle, _round({"GM0166": (5, 90)})],
                       ["GM0193"]).set_index("area_code")
    assert rows.loc["GG1009", "gemeenten_suppressed"] == "GM0150" and rows.loc["GG1009", "n_gemeenten"] == 2
    assert "VG0193" not in rows.index  # its one peer with a round was suppressed: nothing to compare with


def test_federation_section_of_the_report() -> None:
    from wijkindex.estimators.pooled import comparisons
    from wijkindex.report.federation import section_federation

    zwolle = _round({"GM0193": (40, 900)})
    zwolle["wijk_name"] = "Zwolle"
    others = _round({"GM0150": (300, 1000), "GM0166": (120, 400)})
    pooled = comparisons([others, zwolle], ["GM0193"])
    html = section_federation(zwolle, pooled)
    assert "Vergelijking binnen de federatie" in html and html.count("<table") == 1
    assert "3/342" in html and "3/11" in html and "2/6" not in html and "1/6" in html
    assert "▼" in html  # 4.4% against about 20%: below by more than both margins
    assert "Deventer, Kampen, Zwolle" in html and "ontbrekend" in html
    assert "nog geen vergelijking" in section_federation(zwolle, comparisons([zwolle], ["GM0193"]))
    assert section_federation(zwolle, None) == ""


def test_pooled_changes_cover_and_need_the_same_gemeenten() -> None:
    """The country's year-on-year change from the gemeenten' rounds: its 90% interval covers the
    true change (0 here) about 90% of the time over 200 re-noised years; a year that pools other
    gemeenten gives no change, and the report says why."""
    from wijkindex.estimators.trend import pooled_changes
    from wijkindex.report.federation import section_pooled_trend

    rng = np.random.default_rng(11)
    years = [pooled_rows([_index(rng, period=2000 + i)], "NL01", "Nederland", "land") for i in range(200)]
    ch = pooled_changes(pd.concat(years, ignore_index=True))
    assert len(ch) == 199 and ch["comparable"].all()
    covered = (ch["change_low90"] <= 0) & (ch["change_high90"] >= 0)
    assert 0.84 <= covered.mean() <= 0.96, covered.mean()
    assert abs(ch["change"].mean()) < 3 * ch["change"].std() / math.sqrt(len(ch))
    a = pooled_rows([_index(rng, period=2023)], "NL01", "Nederland", "land")
    b = pooled_rows([_index(rng, period=2024).iloc[:2]], "NL01", "Nederland", "land")  # GM0003 has no round
    both = pd.concat([a, b], ignore_index=True)
    (row,) = pooled_changes(both).itertuples()
    assert not row.comparable and math.isnan(row.change)
    html = section_pooled_trend(both)
    assert "niet te vergelijken" in html and "Nederland (NL01)" in html
    same = pd.concat([a, pooled_rows([_index(rng, period=2024)], "NL01", "Nederland", "land")], ignore_index=True)
    assert "niet te vergelijken" not in section_pooled_trend(same) and "2023-2024" in section_pooled_trend(same)


def test_the_trend_chart_draws_the_country_only_over_the_same_gemeenten() -> None:
    from wijkindex.report.charts import section_trend

    rng = np.random.default_rng(5)
    history = pd.concat([_index(rng, period=p) for p in (2022, 2023, 2024)], ignore_index=True)
    history = history[history["area_code"] == "GM0001"].assign(
        gemeente_code="GM0001", wijk_name="Een", suppressed=False, numerator=1, denominator=1, rate=0.1)
    same = pd.concat([pooled_rows([_index(rng, period=p)], "NL01", "Nederland", "land") for p in (2022, 2023, 2024)],
                     ignore_index=True)
    assert "data-area='NL01'" in section_trend(history, same)
    other = same.copy()
    other.loc[other["period"] == 2022, "gemeenten_covered"] = "GM0001, GM0002"  # 2022 pooled fewer gemeenten
    assert "data-area='NL01'" not in section_trend(history, other)
    assert "data-area='NL01'" not in section_trend(history)
