"""Index assembly (post-processing only) and the HTML report."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from wijkindex.estimators.index import IndexMeta, NoisedRelease, assemble_index, read_index, write_index
from wijkindex.protocol.messages import Cell
from wijkindex.report.html import render_report

META = IndexMeta("r1", 2014, "GM0193", "Zwolle", min_cell_size=10)
CELLS = [Cell(w, n, b) for w, n in [("WK019310", "Binnenstad"), ("WK019311", "<script>x</script>")]
         for b in ("0-3", "4-11")]


def rel(indicator: str, values: list[int], source: str = "ggd") -> NoisedRelease:
    return NoisedRelease(indicator, source, tuple(values), scale=2.0, variance=8.0, moe90=4.0)


def build() -> pd.DataFrame:
    den = rel("population", [100, 200, 5, 100], "gemeente")
    return assemble_index(META, CELLS, den, [rel("jeugdhulp", [10, -3, 2, 250]), rel("overgewicht", [5, 10, 1, 20])])


def test_post_processing_and_gemeente_rows() -> None:
    df = build()
    j = df[df["indicator"] == "jeugdhulp"].set_index(["wijk_code", "age_band"])
    assert j.loc[("WK019310", "4-11"), "numerator"] == 0  # clamped at zero
    assert j.loc[("WK019311", "4-11"), "numerator"] == 100  # at most the denominator
    assert j.loc[("WK019311", "0-3"), "suppressed"] and pd.isna(j.loc[("WK019311", "0-3"), "rate"])
    gm = j.loc[("GM0193", "0-3")]
    assert gm["numerator"] == 10 + 2 and gm["denominator"] == 105  # sums include the suppressed cell
    assert gm["index_vs_gemeente"] == 100.0
    wk = j.loc[("WK019310", "0-3")]
    assert wk["rate"] == pytest.approx(0.1)
    assert wk["index_vs_gemeente"] == pytest.approx(round(100 * 0.1 / (12 / 105), 1))
    assert wk["moe90"] == pytest.approx(math.sqrt(4**2 + (0.1 * 4) ** 2) / 100)
    assert gm["numerator_moe90"] == pytest.approx(1.6449 * math.sqrt(2 * 8.0), rel=1e-3)
    assert len(df) == 2 * (4 + 2)


def test_validation() -> None:
    den = rel("population", [1, 2, 3, 4], "gemeente")
    with pytest.raises(ValueError, match="3 values for 4 cells"):
        assemble_index(META, CELLS, den, [rel("x", [1, 2, 3])])
    with pytest.raises(ValueError, match="released twice"):
        assemble_index(META, CELLS, den, [rel("x", [1, 2, 3, 4]), rel("x", [1, 2, 3, 4])])
    with pytest.raises(ValueError, match="population"):
        assemble_index(META, CELLS, rel("x", [1, 2, 3, 4]), [])


def test_write_and_read_back(tmp_path: Path) -> None:
    df = build()
    csv, pq = write_index(df, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.csv", "index.parquet"]
    for path in (csv, pq):
        back = read_index(path)
        assert list(back.columns) == list(df.columns) and len(back) == len(df)
        assert back["numerator"].dtype == "Int64"
        pd.testing.assert_series_equal(back["rate"], df["rate"], check_names=False)


def test_report(tmp_path: Path) -> None:
    privacy = [{"node": "gemeente", "epsilon": 1.0, "mechanism": "discrete_laplace", "scale": 7.0},
               {"node": "ggd", "epsilon": 0.5, "mechanism": "discrete_laplace", "scale": 6.0}]
    out = render_report(build(), tmp_path / "report.html", title="Kinderindex", privacy=privacy)
    text = out.read_text(encoding="utf-8")
    assert "Kinderen met jeugdhulp" in text and "Kinderen met overgewicht" in text
    assert "onderdrukt" in text
    assert "<script>x</script>" not in text and "&lt;script&gt;" in text
    assert "epsilon 1.5" in text


def test_report_tables_show_the_small_area_estimates_and_keep_the_direct_rate_in_the_csv() -> None:
    from urllib.parse import unquote

    from wijkindex.report.html import section_indicator

    df = build()
    wijk = (df["wijk_code"] == "WK019310") & (df["indicator"] == "jeugdhulp") & (df["age_band"] == "0-3")
    df.loc[wijk, ["rate", "rate_eb", "moe90_eb"]] = [0.10, 0.1234, 0.0111]  # a distinct estimate
    page = section_indicator(df, "jeugdhulp")
    assert "12.3% <span class='moe'>± 1.1%</span>" in page and "10.0% <span" not in page
    gm_rate = float(df[(df["wijk_code"] == "GM0193") & (df["indicator"] == "jeugdhulp")
                       & (df["age_band"] == "0-3")]["rate"].iloc[0])
    assert f"(index {100 * 0.1234 / gm_rate:.0f})" in page  # the index of the estimate, not of the direct rate
    csv = unquote(page.split('href="data:text/csv;charset=utf-8,')[1].split('"')[0])
    assert "rate_eb" in csv.splitlines()[0] and ",0.1," in csv  # the direct rate stays in the download


def test_cumulative_risk_shares_of_every_wijk_sum_to_100_percent() -> None:
    """Each level is noised on its own; the report shows the nearest non-negative shares that sum
    to 100% (estimators/consistency.py), not 73.8 + 18.7 + 4.8 + 5.0 = 102.3%."""
    import re

    from wijkindex.report.html import section_cumulative

    den = rel("population", [100, 200, 50, 100], "gemeente")
    levels = [rel("cr_0", [70, 150, 40, 80]), rel("cr_1", [25, 45, 14, 12]), rel("cr_2plus", [9, -4, 3, 11])]
    html = section_cumulative(assemble_index(META, CELLS, den, levels))
    rows = re.findall(r"(<text[^>]*>[^<]*</text>(?:<rect[^>]*><title>[^<]*</title></rect>)+)", html)
    assert len(rows) == 3  # two wijken and the gemeente
    for row in rows:
        shares = [float(x) for x in re.findall(r": (-?[\d.]+)%</title>", row)]
        assert len(shares) == 3 and min(shares) >= 0 and sum(shares) == pytest.approx(100, abs=0.15), row


def test_age_bands_are_labelled_as_cbs_writes_them() -> None:
    from wijkindex.report.html import band_names, section_summary

    assert band_names(["0-3", "4-11", "12-17"])["4-11"] == ("4 t/m 11 jaar", "4 to 11 years")
    assert band_names(["0-4", "4-12", "12-18"])["4-12"] == ("4 tot 12 jaar", "4 to under 12 years")
    html = section_summary(build())
    assert "0 t/m 3 jaar" in html and "4 t/m 11 jaar" in html and "0-3 jaar" not in html


def test_a_wijk_without_a_composite_score_says_why() -> None:
    from wijkindex.estimators.composite import composite_scores

    scores = composite_scores(build())  # two wijken of ~300 and ~105 children: below the default minimum
    wijk = scores[scores["wijk_code"] != "GM0193"]
    assert wijk["score"].isna().all()
    assert wijk["no_score_reason"].str.startswith("te weinig kinderen").all()
    assert wijk["no_score_reason_en"].str.startswith("too few children").all()


def test_cumulative_shares_of_a_wijk_with_few_children_are_named_not_drawn() -> None:
    from wijkindex.report.html import section_cumulative

    den = rel("population", [100, 200, 20, 30], "gemeente")  # the second wijk: 50 children
    levels = [rel("cr_0", [70, 150, 14, 20]), rel("cr_1", [25, 45, 4, 8]), rel("cr_2plus", [5, 5, 2, 2])]
    html = section_cumulative(assemble_index(META, CELLS, den, levels))
    assert html.count("<rect") == 2 * 3  # the first wijk and the gemeente, three levels each
    assert "te weinig kinderen" in html and "&lt;script&gt;" in html  # named (escaped), not drawn
