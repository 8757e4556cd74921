"""Year-on-year change: unbiased from the unclipped counts, and its 90% interval covers.

Two years' truths are noised independently with known discrete-Laplace scales and assembled;
``trend.year_on_year`` must give changes that average to the true change (a rare indicator
rising from near zero is where clipped counts would bias a wijk's change) and intervals that
cover the true change about 90% of the time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wijkindex.estimators.index import IndexMeta, NoisedRelease, assemble_index
from wijkindex.estimators.trend import year_on_year
from wijkindex.protocol.messages import Cell

SCALES = {2013: 8.0, 2014: 5.0}  # each year its own round and noise scale
DRAWS = 150
GM = "GM0193"
BANDS = ("0-3", "4-11", "12-17")
CELLS = [Cell(f"WK0193{i:02d}", f"wijk {i}", b) for i in range(16) for b in BANDS]
RATES = {"rare": {2013: 0.002, 2014: 0.02}, "common": {2013: 0.15, 2014: 0.12}}


def _var(scale: float) -> float:
    return 2 * np.exp(-1 / scale) / (1 - np.exp(-1 / scale)) ** 2


def _release(name: str, counts: np.ndarray, scale: float, rng: np.random.Generator) -> NoisedRelease:
    p = 1 - np.exp(-1 / scale)
    noisy = counts + rng.geometric(p, len(counts)) - rng.geometric(p, len(counts))
    return NoisedRelease(name, "gemeente", tuple(int(x) for x in noisy), scale, _var(scale), 1.645 * _var(scale) ** 0.5)


def _no_smoothing(df, gemeente_code, orientation) -> None:  # the change reads no rate_eb; saves time
    df["rate_eb"], df["moe90_eb"] = df["rate"], df["moe90"]


@pytest.fixture(scope="module")
def changes():
    """DRAWS draws of year_on_year over two assembled years, and the true 0-17 changes."""
    rng = np.random.default_rng(2013)
    pop = {y: rng.integers(40, 700, len(CELLS)) for y in SCALES}
    truth = {y: {k: rng.binomial(pop[y], r[y]) for k, r in RATES.items()} for y in SCALES}
    wijk = np.array([c.area_code for c in CELLS])
    true = {}
    for k in RATES:
        for area in [*dict.fromkeys(wijk), GM]:
            sel = np.ones(len(CELLS), bool) if area == GM else wijk == area
            rate = {y: truth[y][k][sel].sum() / pop[y][sel].sum() for y in SCALES}
            true[(area, k)] = rate[2014] - rate[2013]
    frames = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("wijkindex.estimators.index._smooth", _no_smoothing)
        for _ in range(DRAWS):
            history = [assemble_index(IndexMeta(f"r{y}", y, GM, "Zwolle"), CELLS,
                                      _release("population", pop[y], s, rng),
                                      [_release(k, truth[y][k], s, rng) for k in RATES])
                       for y, s in SCALES.items()]
            h = pd.concat(history, ignore_index=True)
            partial = set(h.loc[h["suppressed"], "wijk_code"])  # a band left out: not the truth's 0-17
            ch = year_on_year(h)
            frames.append(ch[~ch["wijk_code"].isin(partial)])
    return frames, true


def _err(frames, true, select) -> np.ndarray:
    """Per draw: the mean error of the selected changes."""
    out = []
    for f in frames:
        f = f[select(f)]
        out.append(np.mean(f["change"] - [true[(w, i)] for w, i in zip(f["wijk_code"], f["indicator"])]))
    return np.asarray(out)


@pytest.mark.parametrize("indicator", list(RATES))
@pytest.mark.parametrize("level", ["gemeente", "wijk"])
def test_changes_average_to_the_true_change(changes, indicator: str, level: str) -> None:
    """Within 4 Monte Carlo SE of zero, and 0.1 pp at gemeente level (0.3 pp pooled over wijken)."""
    frames, true = changes
    e = _err(frames, true, lambda f: (f["indicator"] == indicator) & ((f["wijk_code"] == GM) == (level == "gemeente")))
    bias, se = e.mean(), e.std(ddof=1) / np.sqrt(len(e))
    assert abs(bias) < 4 * se + 1e-12 and abs(bias) < (0.001 if level == "gemeente" else 0.003), (bias, se)


def test_change_intervals_cover_90_percent(changes) -> None:
    """Pooled over wijken, indicators and draws: 87-93%; the gemeente's alone: 83-97% (fewer rows)."""
    frames, true = changes
    f = pd.concat(frames, ignore_index=True)
    t = np.array([true[(w, i)] for w, i in zip(f["wijk_code"], f["indicator"])])
    inside = (f["change_low90"] <= t) & (t <= f["change_high90"])
    gm = f["wijk_code"] == GM
    assert 0.87 <= inside[~gm].mean() <= 0.93, inside[~gm].mean()
    assert 0.83 <= inside[gm].mean() <= 0.97, inside[gm].mean()


def test_a_change_compares_only_the_bands_shown_in_both_years() -> None:
    """A band suppressed in one year is left out of both years' rates."""
    cells = [Cell("WK01", "a", b) for b in BANDS]
    h = []
    for y, pop in ((2013, (5, 100, 100)), (2014, (100, 100, 100))):
        h.append(assemble_index(IndexMeta(f"r{y}", y, GM, "Zwolle"), cells,
                                NoisedRelease("population", "g", pop, 1, 1, 1.6),
                                [NoisedRelease("x", "g", (5, 10, 20), 1, 1, 1.6)]))
    ch = year_on_year(pd.concat(h, ignore_index=True)).set_index("wijk_code")
    assert ch.loc["WK01", "change"] == pytest.approx(0.0)  # 30/200 both years, the 0-3 band left out


def test_changes_per_age_group_are_each_bands_own() -> None:
    """``by_band``: each age group's change is the change of that band alone; a band suppressed in
    one year has none."""
    cells = [Cell("WK01", "a", b) for b in BANDS]
    h = []
    for y, pop, num in ((2013, (5, 100, 200), (1, 10, 20)), (2014, (100, 100, 200), (5, 20, 30))):
        h.append(assemble_index(IndexMeta(f"r{y}", y, GM, "Zwolle"), cells,
                                NoisedRelease("population", "g", pop, 1, 1, 1.6),
                                [NoisedRelease("x", "g", num, 1, 1, 1.6)]))
    history = pd.concat(h, ignore_index=True)
    ch = year_on_year(history, by_band=True)
    ch = ch[ch["wijk_code"] == "WK01"].set_index("age_band")
    assert BANDS[0] not in ch.index  # suppressed in 2013 (5 children)
    assert ch.loc[BANDS[1], "change"] == pytest.approx(20 / 100 - 10 / 100)
    assert ch.loc[BANDS[2], "change"] == pytest.approx(30 / 200 - 20 / 200)
    whole = year_on_year(history).set_index("wijk_code").loc["WK01", "change"]
    assert whole == pytest.approx(50 / 300 - 30 / 300)  # 0-17 over the bands shown in both years
