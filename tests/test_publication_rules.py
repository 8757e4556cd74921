"""What the index shows and what it only counts: rates the noise swamps are not published.

A rate of a noised sub-population (VVE participation among the children with a VVE indication)
is published in a wijk only where that sub-population's noise margin is at most a quarter of
the size the wijk is expected to have; a gemeente row whose noise margin exceeds 10 percentage
points is marked ``uncertain`` and shows no rate, while its noised counts stay for every sum.
Both rules are decided on known noise and expectations, so the published cells' 90% intervals
still cover: measured here over re-noised draws of a fixed truth.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from wijkindex.estimators.index import MAX_AREA_MOE, SUBPOPULATION_MOE, IndexMeta, NoisedRelease, assemble_index
from wijkindex.federation import round_spec
from wijkindex.protocol.messages import Cell
from wijkindex.protocol.spec import RoundSpec
from wijkindex.vocabulary import Z90

SPEC = RoundSpec.from_toml(round_spec(2014, "GM0193", {"gemeente": ["eenoudergezin"],
                                                       "ggd": ["vve_indicatie", "vve_deelname"]}))
META = IndexMeta("r", 2014, "GM0193", "Zwolle", min_cell_size=10)
BANDS = [b.label for b in SPEC.age_bands]
SIZES = np.geomspace(60, 6000, 16).astype(int)  # children per wijk and band
CELLS = [Cell(f"WK0193{i:02d}", f"wijk {i}", b) for i in range(16) for b in BANDS]
SCALE = 29.5  # the GGD's marginal scale at epsilon 1 in the demo round


def _var(scale: float) -> float:
    return 2 * math.exp(-1 / scale) / (1 - math.exp(-1 / scale)) ** 2


def _noised(name: str, source: str, truth: np.ndarray, scale: float, rng: np.random.Generator) -> NoisedRelease:
    p = 1 - math.exp(-1 / scale)
    noise = rng.geometric(p, len(truth)) - rng.geometric(p, len(truth))
    var = _var(scale)
    return NoisedRelease(name, source, tuple(int(x) for x in truth + noise), scale, var, Z90 * math.sqrt(var))


def _truth() -> dict[str, np.ndarray]:
    pop = np.array([SIZES[int(c.area_code[-2:])] for c in CELLS])
    vve_age = np.where([c.age_band in ("0-3", "4-11") for c in CELLS], pop // 4, 0)  # children aged 2-5
    indicated = vve_age // 5
    return {"population": pop, "population:ggd@2-5": vve_age, "vve_indicatie": indicated,
            "vve_deelname": (indicated * 3) // 4, "eenoudergezin": pop // 6}


def _draw(rng: np.random.Generator) -> pd.DataFrame:
    t = _truth()
    dens = {"population": _noised("population", "gemeente", t["population"], 10.0, rng),
            "population:ggd@2-5": _noised("population:ggd@2-5", "ggd", t["population:ggd@2-5"], SCALE, rng)}
    nums = [_noised("eenoudergezin", "gemeente", t["eenoudergezin"], 10.0, rng),
            _noised("vve_indicatie", "ggd", t["vve_indicatie"], SCALE, rng),
            _noised("vve_deelname", "ggd", t["vve_deelname"], SCALE, rng)]
    return assemble_index(META, CELLS, dens, nums, scope=SPEC)


def test_a_noisy_sub_population_is_published_only_where_its_noise_is_small() -> None:
    rng = np.random.default_rng(7)
    t = _truth()
    threshold = Z90 * math.sqrt(_var(SCALE)) / SUBPOPULATION_MOE  # expected children with an indication
    keys = [(c.area_code, c.age_band) for c in CELLS]
    indicated = pd.Series(t["vve_indicatie"], index=keys)
    true_rate = pd.Series(t["vve_deelname"] / np.maximum(t["vve_indicatie"], 1), index=keys)
    inside = []
    published: dict[tuple[str, str], int] = {}
    draws = 300
    for _ in range(draws):
        idx = _draw(rng)
        rows = idx[(idx["indicator"] == "vve_deelname") & (idx["area_level"] == "wijk")]
        for r in rows.itertuples():
            key = (r.wijk_code, r.age_band)
            if not r.suppressed:
                published[key] = published.get(key, 0) + 1
                inside.append(abs(r.rate - true_rate[key]) <= r.moe90)
        # the gemeente row: its noise margin is far above 10 pp, so no rate is shown; its counts stay
        gm = idx[(idx["indicator"] == "vve_deelname") & (idx["area_level"] == "gemeente")]
        for r in gm.itertuples():
            assert r.numerator_moe90 / r.denominator_noisy > MAX_AREA_MOE
            assert r.uncertain and pd.isna(r.rate) and pd.isna(r.moe90) and pd.notna(r.numerator_noisy)
        ok = idx[(idx["indicator"] == "eenoudergezin") & (idx["area_level"] == "gemeente")]
        assert not ok["uncertain"].any() and ok["rate"].notna().all()  # a precise gemeente rate is shown
    for key, n in indicated.items():
        if key[1] == "12-17":
            continue
        if n >= 2 * threshold:  # clearly large enough: always published
            assert published.get(key, 0) == draws, (key, n)
        elif n <= threshold / 2:  # clearly too small: never
            assert published.get(key, 0) == 0, (key, n)
    assert len(inside) > draws  # some wijken are published in every draw
    assert np.mean(inside) >= 0.88, f"published VVE cells cover {np.mean(inside):.1%}"


def test_a_gemeente_band_whose_margin_exceeds_the_areas_own_rate_is_uncertain() -> None:
    """A rare indicator (0.1% of children) with a noise margin of about 0.4 points at gemeente level:
    within 10 points, but three times the rate it is about, so shown clipped at 0 it would read too
    high on average; it is marked uncertain and its counts stay. A common one beside it is shown."""
    rng = np.random.default_rng(3)
    t = _truth()
    dens = {"population": _noised("population", "gemeente", t["population"], 10.0, rng)}
    rare = _noised("eenoudergezin", "gemeente", t["population"] // 1000, 10.0, rng)
    common = _noised("jeugdhulp", "gemeente", t["population"] // 10, 10.0, rng)
    spec = RoundSpec.from_toml(round_spec(2014, "GM0193", {"gemeente": ["eenoudergezin", "jeugdhulp"]}))
    idx = assemble_index(META, CELLS, dens, [rare, common], scope=spec)
    gm = idx[idx["area_level"] == "gemeente"].set_index(["indicator", "age_band"])
    small = gm.loc["eenoudergezin"]
    margin = small["numerator_moe90"] / small["denominator_noisy"].astype(float)
    assert (margin < MAX_AREA_MOE).all()  # the absolute rule alone would show it
    assert small["uncertain"].all() and small["rate"].isna().all() and small["numerator_noisy"].notna().all()
    assert not gm.loc["jeugdhulp", "uncertain"].any() and gm.loc["jeugdhulp", "rate"].notna().all()
