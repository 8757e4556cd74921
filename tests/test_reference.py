"""Published reference figures beside the index (estimators/reference.py) and their place in
the outputs (index.csv rows, reference.csv, the report section)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wijkindex.estimators.index import read_index, write_index
from wijkindex.estimators.reference import (REFERENCE_COLUMNS, missing_counterparts, peer_gemeenten,
                                            reference_for_index, reference_rows, weighted_share, with_reference,
                                            without_reference, MEASURES)
from wijkindex.geography.regions import Region

SHARED = Path(os.environ.get("WIJKINDEX_SHARED_NL2024", Path(__file__).resolve().parents[2] / "shared" / "data"
                             / "nl-2024"))
needs_shared = pytest.mark.skipif(not (SHARED / "gemeenten_2022.geojson").exists(),
                                  reason="the shared CBS source data is absent")


def _row(df: pd.DataFrame, indicator: str, level: str, year: int | None = None) -> pd.Series:
    sel = (df["indicator"] == indicator) & (df["area_level"] == level)
    if year is not None:
        sel &= df["year"] == year
    assert sel.sum() == 1, df[sel]
    return df[sel].iloc[0]


@needs_shared
def test_national_poverty_figure_is_the_household_weighted_share_from_the_cbs_file() -> None:
    feats = json.loads((SHARED / "gemeenten_2022.geojson").read_text(encoding="utf-8"))["features"]
    rows = [f["properties"] for f in feats if f["properties"]["gemeentecode"] != "GM0998"]
    hh = np.array([float(p["huishoudens"]) for p in rows])
    pct = np.array([float(p["pct_rond_sociaal_min"]) for p in rows])
    by_hand = float((hh * pct).sum() / hh.sum()) / 100
    unweighted = float(pct.mean()) / 100
    nl = _row(reference_rows("GM0193", ["bijstand"]), "bijstand", "land", 2022)
    assert nl["area_code"] == "NL01" and nl["area_name"] == "Nederland"
    assert nl["value"] == pytest.approx(by_hand, abs=2e-5)
    assert abs(by_hand - unweighted) > 0.005  # the test tells weighted from unweighted
    assert nl["value"] != pytest.approx(unweighted, abs=0.005)
    assert nl["weighted_by"] == "huishoudens" and nl["n_gemeenten"] == 342


@needs_shared
def test_regional_youth_care_is_weighted_by_young_people() -> None:
    feats = json.loads((SHARED / "gemeenten_2022.geojson").read_text(encoding="utf-8"))["features"]
    props = {f["properties"]["gemeentecode"]: f["properties"] for f in feats}
    ijssel = ["GM0148", "GM0150", "GM0160", "GM0166", "GM0175", "GM0177", "GM0180", "GM0193", "GM1708", "GM1773",
              "GM1896"]
    w = np.array([props[g]["aantal_inwoners"] * (props[g]["0_15"] + props[g]["15_25"]) / 100 for g in ijssel])
    v = np.array([props[g]["pct_jeugdzorg"] for g in ijssel])
    ggd = _row(reference_rows("GM0193", ["jeugdhulp"]), "jeugdhulp", "ggd")
    assert ggd["area_code"] == "GG1009" and ggd["value"] == pytest.approx(float((w * v).sum() / w.sum()) / 100,
                                                                           abs=1e-5)


def test_weighting_is_by_households_not_a_mean_of_gemeenten() -> None:
    poverty = next(m for m in MEASURES if m.column == "pct_rond_sociaal_min")
    # Amsterdam (about 12%, 494,000 households) and Schiermonnikoog (5%, about 530 households)
    value, n = weighted_share(poverty, ["GM0363", "GM0088"])
    assert n == 2 and value > 0.115  # an unweighted mean would be about 0.085


def test_zwolles_rows() -> None:
    ref = reference_rows("Zwolle", ["bijstand", "jeugdhulp", "eenoudergezin", "overgewicht"])
    assert list(ref.columns) == REFERENCE_COLUMNS
    assert set(ref["indicator"]) == {"bijstand", "jeugdhulp"}  # the others have no counterpart: no row
    own = _row(ref, "bijstand", "gemeente", 2022)
    assert own["area_code"] == "GM0193" and own["value"] == pytest.approx(0.06) and bool(own["proxy"])
    assert "huishoudens" in own["reference_measure"] and "geen aandeel van kinderen" in own["note"]
    assert "not a share of children" in own["note_en"]
    assert _row(ref, "bijstand", "ggd", 2022)["area_name"] == "GGD IJsselland"
    assert _row(ref, "bijstand", "jeugdzorgregio", 2022)["area_code"] == "JZ07"
    assert _row(ref, "jeugdhulp", "gemeente")["value"] == pytest.approx(0.102)
    peers = _row(ref, "jeugdhulp", "vergelijkbaar")
    assert peers["n_gemeenten"] == len(peer_gemeenten("GM0193")) >= 3
    assert set(ref["area_level"]) == {"gemeente", "ggd", "jeugdzorgregio", "vergelijkbaar", "land"}
    assert ref["value"].between(0, 1).all()


def test_an_indicator_without_counterpart_gets_no_row_but_a_reason() -> None:
    assert reference_rows("GM0193", ["eenoudergezin", "verzuim"]).empty
    missing = missing_counterparts(["eenoudergezin", "bijstand", "verzuim"])
    assert set(missing) == {"eenoudergezin", "verzuim"}
    assert "71486NED" in missing["eenoudergezin"][0]


def test_peers_share_urbanisation_and_size() -> None:
    from wijkindex.geography.cbs import _kwb

    kwb = _kwb()
    peers = peer_gemeenten("GM0193")
    assert "GM0193" not in peers
    assert all(kwb.loc[p, "stedelijkheid"] == kwb.loc["GM0193", "stedelijkheid"] for p in peers)
    assert all(100_000 <= kwb.loc[p, "aantal_inwoners"] < 150_000 for p in peers)
    assert set(peer_gemeenten("Amsterdam")) == {"GM0344", "GM0518", "GM0599"}  # Utrecht, Den Haag, Rotterdam


def test_user_region_rows() -> None:
    mine = Region("R001", "Noordoost", "user", ("GM0166", "GM0193"), "x.toml")
    other = Region("R002", "Elders", "user", ("GM0363",), "x.toml")
    ref = reference_rows("GM0193", ["bijstand"], [mine, other])
    region = ref[ref["area_level"] == "region"]
    assert set(region["area_code"]) == {"R001"} and (region["n_gemeenten"] == 2).all()


def _index() -> pd.DataFrame:
    from tests.test_index import build

    return build()


def test_reference_rows_in_index_csv_and_read_back_without_them(tmp_path: Path) -> None:
    df = _index()  # GM0193, jeugdhulp and overgewicht
    ref = reference_for_index(df)
    assert set(ref["indicator"]) == {"jeugdhulp"}
    out = with_reference(df, ref)
    assert len(out) == len(df) + len(ref)
    assert set(out["area_level"]) >= {"wijk", "gemeente", "land", "ggd"}
    nl = out[out["wijk_code"] == "NL01"].iloc[0]
    assert nl["source"] == "referentie" and "CBS KWB 2022" in nl["reference_source"] and pd.isna(nl["age_band"])
    assert nl["round_id"] == "r1" and nl["population"] == "jongeren"
    pd.testing.assert_frame_equal(without_reference(out)[list(df.columns)], df, check_dtype=False)
    csv, pq = write_index(out, tmp_path)
    for path in (csv, pq):
        assert len(read_index(path)) == len(df)
        assert len(read_index(path, reference=True)) == len(out)


def test_write_tables_writes_reference_csv_and_consumers_ignore_the_rows(tmp_path: Path) -> None:
    from wijkindex.clients import write_tables

    df = _index()
    paths, composite, rr = write_tables(df, tmp_path)
    assert (tmp_path / "reference.csv") in paths
    written = pd.read_csv(tmp_path / "index.csv")
    assert (written["source"] == "referentie").sum() == len(pd.read_csv(tmp_path / "reference.csv"))
    # the derived tables are computed from the federation's rows only
    assert not set(composite.get("wijk_code", pd.Series(dtype=str))) & {"NL01", "GG1009", "JZ07"}


def test_no_reference_for_a_gemeente_outside_the_cbs_list(tmp_path: Path) -> None:
    df = _index().assign(gemeente_code="GM9999")
    assert reference_for_index(df).empty
    assert (with_reference(df, reference_for_index(df))["reference_source"] == "").all()


def test_report_section() -> None:
    from wijkindex.report.reference import section_reference

    ref = reference_rows("GM0193", ["bijstand", "jeugdhulp"])
    text = section_reference(ref, indicators=["bijstand", "jeugdhulp", "eenoudergezin"])
    assert "Referentiecijfers" in text and "GGD IJsselland" in text and "download=" in text
    assert "benadering" in text and "71486NED" in text and "6.0%" in text
    en = section_reference(ref, en=True)
    assert "Reference figures" in en and "data-en" not in en.split("href")[0]
    assert section_reference(ref.iloc[0:0]) == ""
