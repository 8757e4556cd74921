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


def test_which_rows_are_shown_does_not_depend_on_their_noisy_numerators() -> None:
    """The rules read the known noise and the denominators, never a noised numerator: the same
    denominators with other numerators (another draw of their noise, or another truth) show and
    hide the same rows. A rule on a noisy figure (the area's own noisy rate, tried) would show
    mostly the draws whose noise flattered it: +0.5 to +15 pp on the rows it kept."""
    rng = np.random.default_rng(3)
    t = _truth()
    dens = {"population": _noised("population", "gemeente", t["population"], 10.0, rng),
            "population:ggd@2-5": _noised("population:ggd@2-5", "ggd", t["population:ggd@2-5"], SCALE, rng)}
    flags = []
    for share in (1000, 200, 6):
        vve = _noised("vve_indicatie", "ggd", t["vve_indicatie"], SCALE, np.random.default_rng(11))
        nums = [_noised("eenoudergezin", "gemeente", t["population"] // share, 10.0, rng), vve,
                _noised("vve_deelname", "ggd", (t["vve_indicatie"] * share) // 1200, SCALE, rng)]
        idx = assemble_index(META, CELLS, dens, nums, scope=SPEC)
        flags.append(idx.set_index(["indicator", "wijk_code", "age_band"])[["uncertain", "suppressed"]])
    assert flags[0].equals(flags[1]) and flags[1].equals(flags[2])
    gm = flags[0].xs("GM0193", level="wijk_code")
    assert not gm.loc["eenoudergezin", "uncertain"].any() and gm.loc["vve_deelname", "uncertain"].all()


def test_a_gemeente_rate_is_the_unclipped_estimate_and_the_report_clips_it() -> None:
    """A rare gemeente rate whose noise took it below 0 stays negative in the index (sums and
    averages of it stay unbiased) and reads 0.0% in the report, its interval the part above 0."""
    from wijkindex.report.page import for_display

    den = NoisedRelease("population", "gemeente", (3000,) * 6, 10.0, _var(10.0), Z90 * math.sqrt(_var(10.0)))
    num = NoisedRelease("eenoudergezin", "gemeente", (-30, 5, -20, 2, 1, -9), 10.0, _var(10.0),
                        Z90 * math.sqrt(_var(10.0)))
    idx = assemble_index(META, [Cell(f"WK0193{i:02d}", "w", b) for i in range(2) for b in BANDS], den, [num])
    gm = idx[idx["area_level"] == "gemeente"].set_index("age_band")
    assert gm.loc["0-3", "rate"] == pytest.approx(-28 / 6000) and not gm.loc["0-3", "uncertain"]
    shown = for_display(idx)
    row = shown[shown["area_level"] == "gemeente"].set_index("age_band").loc["0-3"]
    assert row["rate"] == 0.0 and row["moe90"] == pytest.approx(max(gm.loc["0-3", "rate"] + gm.loc["0-3", "moe90"], 0))
    # the demo's console summary reads like the report: 0.0%, never a negative share
    from io import StringIO

    from rich.console import Console

    from wijkindex.demo import _summary
    from wijkindex.protocol import messages as m

    out = StringIO()
    _summary(Console(file=out, width=200), idx, m.RoundStatus("r", "completed", "", (), (), "", "", 1.0), META.gemeente_code)
    line = next(s for s in out.getvalue().splitlines() if "eenoudergezin" in s)
    assert "0.0%" in line and "-0." not in line, line
