"""The synthetic federation: real Zwolle geography, plausible correlations, truth that matches its files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from wijkindex.errors import WijkindexError
from wijkindex.geography import load_zwolle, recover_inhabitants
from wijkindex.linkage.bsn import is_valid_bsn
from wijkindex.synth.generator import generate_federation


def test_geography_recovers_real_population(geography) -> None:
    assert len(geography.buurten) == 78 and len(geography.wijken) == 16
    assert geography.gemeente_code == "GM0193"
    assert geography.buurten["inhabitants"].sum() == 123_215
    kids = (geography.buurten["inhabitants"] * geography.buurten[["share_0_3", "share_4_11", "share_12_17"]]
            .sum(axis=1)).sum()
    assert 26_000 <= kids <= 28_500
    assert geography.wijk_name("WK019322") == "Stadshagen"
    assert recover_inhabitants([50.0, 25.0]) == 4 and recover_inhabitants([33.3333]) == 3


def test_missing_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="Zwolle data is missing"):
        load_zwolle(tmp_path)


def test_small_federation_files(small_federation) -> None:
    d = small_federation.out_dir
    brp = pd.read_csv(d / "gemeente" / "brp.csv", dtype=str)
    assert brp["bsn"].is_unique and brp["bsn"].map(is_valid_bsn).all()
    assert brp["wijk_code"].nunique() == 16
    assert set(brp["huishouden_type"]) <= {"eenouder", "tweeouder", "overig"}
    jgz = pd.read_csv(d / "ggd" / "jgz.csv", dtype=str, keep_default_na=False)
    with_bsn = jgz[jgz["bsn"] != ""]
    assert not with_bsn["bsn"].is_unique  # several records for some children
    assert (~with_bsn["bsn"].isin(brp["bsn"])).sum() > 0  # children who do not live in the gemeente
    assert (~with_bsn["bsn"].map(is_valid_bsn)).sum() > 0  # and a few invalid BSNs
    # survey records without a BSN: about NO_BSN_SHARE of them, their true BSN only in truth/
    survey = jgz[jgz["bsn"] == ""]
    assert 0.08 < len(survey) / len(jgz) < 0.16
    true_bsn = pd.read_csv(d / "truth" / f"ggd_{small_federation.period}_true_bsn.csv", dtype=str)
    assert set(survey["jgz_id"]) == set(true_bsn["jgz_id"]) and true_bsn["bsn"].map(is_valid_bsn).all()
    assert survey[["voornaam", "achternaam", "geboortedatum"]].ne("").all().all()
    truth = pd.read_csv(d / "truth" / "truth.csv")
    # bands per indicator within its ages: 8 of the gemeente (6 + 2 profile attributes) and 3 joint
    # indicators of all ages, 4 cumulative levels; GGD 3+2+3+2+2; school 4 x 2; the school joint 2
    assert len(truth) == 17 * (3 * (8 + 3 + 4) + 12 + 8 + 2)
    bands = truth.groupby("indicator")["age_band"].agg(set)
    assert bands["onderwijsachterstand"] == {"4-11", "12-17"} and bands["vve_deelname"] == {"0-3", "4-11"}
    # a sub-population's rate is of the children in it: VVE participation among those with an indication
    vve = truth.set_index(["wijk_code", "age_band", "indicator"])["numerator"]
    den = truth.set_index(["wijk_code", "age_band", "indicator"])["denominator"]
    assert (den.xs("vve_deelname", level=2) == vve.xs("vve_indicatie", level=2)).all()
    assert "FOR EVALUATION ONLY" in (d / "truth" / "README.md").read_text()


def test_full_size_federation_and_smart_start_correlation(tmp_path: Path, geography) -> None:
    info = generate_federation(tmp_path / "fed", seed=1, geography=geography)  # its speed: bench/, not here
    assert 26_000 <= info.n_children <= 28_500
    brp = pd.read_csv(tmp_path / "fed" / "gemeente" / "brp.csv", dtype=str)
    social = pd.read_csv(tmp_path / "fed" / "gemeente" / "sociaal_domein.csv", dtype=str)
    kids = brp.merge(social, on="bsn", how="left").fillna({"jeugdhulp": "0"})
    rate = kids.groupby(kids["huishouden_type"] == "eenouder")["jeugdhulp"].apply(lambda s: (s == "1").mean())
    assert rate[True] > 1.5 * rate[False]
    truth = pd.read_csv(tmp_path / "fed" / "truth" / "truth.csv")
    gm = truth[(truth["wijk_code"] == "GM0193")]
    single = gm[gm["indicator"] == "eenoudergezin"]
    assert 0.12 < single["numerator"].sum() / single["denominator"].sum() < 0.19
    # wijken differ: the spread of the single-parent rate across big wijken is real
    wijk = truth[(truth["indicator"] == "eenoudergezin") & (truth["wijk_code"] != "GM0193")]
    by_wijk = wijk.groupby("wijk_code")[["numerator", "denominator"]].sum()
    by_wijk = by_wijk[by_wijk["denominator"] > 500]
    rates = by_wijk["numerator"] / by_wijk["denominator"]
    assert rates.max() - rates.min() > 0.05


def test_deterministic_and_refuses_overwrite(tmp_path: Path, geography) -> None:
    a = generate_federation(tmp_path / "a", seed=4, scale=0.02, geography=geography)
    b = generate_federation(tmp_path / "b", seed=4, scale=0.02, geography=geography)
    for rel in ("gemeente/brp.csv", "ggd/jgz.csv", "school/leerlingen.csv", "truth/truth.csv"):
        assert (a.out_dir / rel).read_bytes() == (b.out_dir / rel).read_bytes()
    with pytest.raises(WijkindexError, match="not empty"):
        generate_federation(tmp_path / "a", seed=4, scale=0.02, geography=geography)
