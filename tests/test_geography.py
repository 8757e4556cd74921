"""The CBS 2024 loader against the CBS source files: inhabitants, children, age-less and
uninhabited wijken, lookup by code and name; and the demo for any gemeente through the CLI.

The source files live beside the repository (../shared/data/nl-2024, the README there); the
product ships a derived form of them, so these tests check the shipped form against the source.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from wijkindex.estimators.index import read_index
import pytest

from wijkindex.errors import ConfigError
from wijkindex.geography import load_gemeente, load_geography, resolve

SOURCE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nl-2024"
# Amsterdam (large, one age-less wijk, one empty), Zwolle (middle), Vlieland (tiny, one empty
# wijk), Almere (seven inhabited wijken without age figures, nine empty)
GEMEENTEN = ("GM0363", "GM0193", "GM0096", "GM0034")


@lru_cache(maxsize=1)
def _source() -> tuple[pd.DataFrame, dict]:  # type: ignore[type-arg]
    if not (SOURCE / "wijken_2024.geojson").exists():
        pytest.skip(f"the CBS source data is not at {SOURCE}")
    features = json.loads((SOURCE / "wijken_2024.geojson").read_text(encoding="utf-8"))["features"]
    kwb = json.loads((SOURCE / "kwb2024_gm_wk.json").read_text(encoding="utf-8"))
    return pd.DataFrame([f["properties"] for f in features]), kwb


def source_wijken(code: str) -> pd.DataFrame:
    wijken, _ = _source()
    return wijken[wijken["gemeentecode"] == code].set_index("wijkcode")


def expected_children(w: pd.DataFrame) -> pd.Series:
    """The README's rule: 0-17 = 0_15 + 3/10 of 15_25 (whole percent); a wijk without age
    figures takes its gemeente's inhabitant-weighted shares."""
    w = w[w["aantal_inwoners"].fillna(0) > 0]
    has = w["0_15"].notna() & w["15_25"].notna()
    n = w["aantal_inwoners"].astype(float)
    s015 = w["0_15"].fillna(np.average(w.loc[has, "0_15"], weights=n[has])) / 100
    s1525 = w["15_25"].fillna(np.average(w.loc[has, "15_25"], weights=n[has])) / 100
    return n * (s015 + 0.3 * s1525)


@pytest.mark.parametrize("code", GEMEENTEN)
def test_inhabitants_match_the_cbs_wijken_and_kwb_2024(code: str) -> None:
    src = source_wijken(code)
    _, kwb = _source()
    geo = load_gemeente(code, min_children=0)  # every inhabited wijk its own area
    inhabited = src[src["aantal_inwoners"].fillna(0) > 0]
    mine = geo.wijken.set_index("wijk_code")["inhabitants"]
    assert sorted(mine.index) == sorted(inhabited.index)
    assert (mine == inhabited["aantal_inwoners"].astype(int).reindex(mine.index)).all()
    assert all(mine[w] == kwb[w]["AantalInwoners_5"] for w in mine.index)  # the independent KWB table
    # the gemeente total: KWB's gemeente figure (small wijken are rounded to 5 by CBS)
    assert abs(int(mine.sum()) - kwb[code]["AantalInwoners_5"]) <= 5 * len(mine)


@pytest.mark.parametrize("code", GEMEENTEN)
def test_children_0_17_follow_the_readme_rule(code: str) -> None:
    geo = load_gemeente(code, min_children=0)
    want = expected_children(source_wijken(code))
    got = geo.expected_children(0, 17)
    assert got.index.tolist() == sorted(want.index)
    assert np.allclose(got.to_numpy(), want.reindex(got.index).to_numpy(), rtol=1e-9)
    assert geo.children() == pytest.approx(float(want.sum()))
    # the three bands add up to 0-17, whatever the folding of small wijken
    folded = load_gemeente(code)
    bands = sum(folded.expected_children(lo, hi).sum() for lo, hi in ((0, 3), (4, 11), (12, 17)))
    assert bands == pytest.approx(float(want.sum()))


def test_wijken_without_age_figures_get_the_gemeentes_weighted_shares() -> None:
    src = source_wijken("GM0034")  # Almere
    inhabited = src[src["aantal_inwoners"].fillna(0) > 0]
    ageless = inhabited.index[inhabited["0_15"].isna()]
    assert len(ageless) >= 1
    n = inhabited["aantal_inwoners"].astype(float)
    has = inhabited["0_15"].notna()
    share = float(np.average(inhabited.loc[has, "0_15"], weights=n[has])) / 100
    b = load_gemeente("GM0034", min_children=0).buurten.set_index("wijk_code")
    for w in ageless:
        assert b.loc[w, "share_0_3"] == pytest.approx(share * 4 / 15)
        assert b.loc[w, "share_4_11"] == pytest.approx(share * 8 / 15)
    # and not the national default or zero
    assert b.loc[ageless, "share_0_3"].gt(0).all()


@pytest.mark.parametrize("code", ["GM0096", "GM0034", "GM0363"])
def test_uninhabited_wijken_get_no_cells_but_are_drawn(code: str) -> None:
    src = source_wijken(code)
    empty = set(src.index[src["aantal_inwoners"].fillna(0) <= 0])
    assert empty
    for min_children in (0, 5):
        geo = load_gemeente(code, min_children=min_children)
        assert not empty & set(geo.areas("wijk")["wijk_code"]) and not empty & set(geo.buurten["wijk_code"])
        drawn = {a for a, _, _ in geo.polygons}
        assert drawn == set(src.index)  # every CBS wijk is on the map, inhabited or not
        assert all(rings for _, _, rings in geo.polygons)


def test_small_wijken_fold_into_a_drawn_inhabited_one() -> None:
    geo = load_gemeente("GM0034")  # Almere: wijken of 5-45 inhabitants
    cells = set(geo.areas("wijk")["wijk_code"])
    inhabited = {"WK" + b[2:8] for b in geo.buurten["buurt_code"]}
    folded = {area: host for area, host, _ in geo.polygons if area in inhabited and host != area}
    assert folded and set(folded.values()) <= cells  # drawn in the colour of the wijk they joined
    assert (geo.expected_children(0, 3) >= 5).all()


@pytest.mark.parametrize("name", ["GM0363", "gm0363", "0363", "363", "Amsterdam", "AMSTERDAM", " amsterdam ",
                                  "cbs:GM0363"])
def test_lookup_by_code_or_name_in_any_case(name: str) -> None:
    geo = load_geography(name)
    assert (geo.gemeente_code, geo.gemeente_name) == ("GM0363", "Amsterdam")


def test_lookup_of_a_name_with_spaces_and_hyphens() -> None:
    assert resolve("'s-Hertogenbosch") == "GM0796"
    assert resolve("súdwest-fryslân") == "GM1900"


def test_an_unknown_gemeente_names_close_matches() -> None:
    with pytest.raises(ConfigError) as err:
        load_gemeente("Amsterdm")
    msg = str(err.value)
    assert "'Amsterdm' is not one of the 342 gemeenten of 2024" in msg
    assert "did you mean Amsterdam (GM0363)" in msg
    assert "GM0363 or 0363" in msg  # the fix: how to name a gemeente
    with pytest.raises(ConfigError, match="is not one of the 342") as err:
        resolve("GM9999")
    assert "did you mean" not in str(err.value)


@pytest.mark.slow
def test_demo_for_a_small_gemeente_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    r = subprocess.run([sys.executable, "-m", "wijkindex", "demo", "--gemeente", "vlieland", "--scale", "0.5",
                        "--seed", "5", "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "completed" in r.stderr
    index = read_index(out / "index.csv")  # the federation's rows (CBS reference rows left out)
    assert set(index["gemeente_code"]) == {"GM0096"}
    assert {"NL01", "GM0096"} <= set(read_index(out / "index.csv", reference=True)["wijk_code"])
    wijken = set(index.loc[index["wijk_code"] != "GM0096", "wijk_code"])
    _source()  # skip without the CBS source
    src = source_wijken("GM0096")
    assert wijken == set(src.index[src["aantal_inwoners"].fillna(0) > 0]) == {"WK009600"}
    assert "Vlieland" in (out / "report.html").read_text(encoding="utf-8")
