"""Figures derived from several noised cells are unbiased: re-noise the truth, average the assembly.

Clipping a small cell's count at zero before summing adds its cut-off negative noise to every
total (about +2 per empty cell at scale 5); the assembly sums the unclipped counts, so over many
draws of symmetric noise the gemeente rows and the 0-17 totals average to the truth.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wijkindex.estimators.consistency import consistent_levels, cumulative_shares, level_shares
from wijkindex.estimators.index import IndexMeta, NoisedRelease, assemble_index, wijk_totals
from wijkindex.protocol.messages import Cell

SCALE = 5.0
DRAWS = 300
META = IndexMeta("r", 2014, "GM0193", "Zwolle", min_cell_size=10)
BANDS = ("0-3", "4-11", "12-17")
CELLS = [Cell(f"WK0193{i:02d}", f"wijk {i}", b) for i in range(16) for b in BANDS]


def _noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Discrete Laplace of SCALE: the difference of two geometrics."""
    p = 1 - np.exp(-1 / SCALE)
    return rng.geometric(p, n) - rng.geometric(p, n)


def _truth(rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    population = rng.integers(40, 900, len(CELLS))
    rare = rng.binomial(population, 0.004)  # mostly 0-3 per cell: where clipping bites
    common = rng.binomial(population, 0.15)
    return population, {"ots": rare, "eenoudergezin": common}


def test_gemeente_rows_and_totals_average_to_the_truth_under_symmetric_noise() -> None:
    rng = np.random.default_rng(2014)
    population, truth = _truth(rng)
    var = 2 * np.exp(-1 / SCALE) / (1 - np.exp(-1 / SCALE)) ** 2
    band_of = np.array([BANDS.index(c.age_band) for c in CELLS])
    errors: dict[str, list[float]] = {}
    for _ in range(DRAWS):
        den = NoisedRelease("population", "gemeente", tuple(int(x) for x in population + _noise(rng, len(CELLS))),
                            SCALE, var, 1.645 * var ** 0.5)
        nums = [NoisedRelease(k, "gemeente", tuple(int(x) for x in t + _noise(rng, len(CELLS))), SCALE, var,
                              1.645 * var ** 0.5) for k, t in truth.items()]
        idx = assemble_index(META, CELLS, den, nums)
        gm = idx[idx["wijk_code"] == META.gemeente_code]
        for ind, t in truth.items():
            for b, band in enumerate(BANDS):
                row = gm[(gm["indicator"] == ind) & (gm["age_band"] == band)].iloc[0]
                errors.setdefault(f"gemeente {ind} {band}", []).append(float(row["numerator_noisy"]) -
                                                                      float(t[band_of == b].sum()))
        totals = wijk_totals(idx)
        shown = ~idx["suppressed"]
        for ind, t in truth.items():
            cells = idx[(idx["indicator"] == ind) & (idx["wijk_code"] != META.gemeente_code)]
            true_total = sum(int(t[i]) for i, s in enumerate(shown[cells.index].tolist()) if s)
            got = totals[(totals["indicator"] == ind) & (totals["wijk_code"] != META.gemeente_code)]
            errors.setdefault(f"0-17 totals {ind}", []).append(float(got["numerator"].sum()) - true_total)
    for what, e in errors.items():
        e_arr = np.asarray(e)
        se = e_arr.std(ddof=1) / np.sqrt(len(e_arr))
        assert abs(e_arr.mean()) < 4 * se + 1e-9, f"{what}: bias {e_arr.mean():+.2f} (Monte Carlo s.e. {se:.2f})"


def test_the_display_counts_are_clipped_but_feed_nothing() -> None:
    den = NoisedRelease("population", "gemeente", (100,) * 6, SCALE, 1.0, 1.0)
    num = NoisedRelease("x", "gemeente", (-4, 2, -3, 0, 1, 19), SCALE, 1.0, 1.0)
    idx = assemble_index(META, CELLS[:6], den, [num])
    wijk = idx[idx["wijk_code"] != META.gemeente_code]
    assert (wijk["numerator"] >= 0).all() and wijk["numerator_noisy"].tolist() == [-4, 2, -3, 0, 1, 19]
    gm = idx[idx["wijk_code"] == META.gemeente_code].set_index("age_band")
    assert gm.loc["0-3", "numerator_noisy"] == -4 + 0 and gm.loc["4-11", "numerator_noisy"] == 2 + 1
    assert gm.loc["0-3", "numerator"] == 0  # shown non-negative
    assert gm.loc["4-11", "rate"] == pytest.approx(3 / 200)


# ---- cumulative-risk levels made consistent ----------------------------------------------

@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-50, 500), min_size=1, max_size=6), st.integers(-20, 1500))
def test_consistent_levels_are_the_nearest_non_negative_split_of_the_total(levels: list[int], total: int) -> None:
    x = consistent_levels(levels, total)
    assert (x >= 0).all() and x.sum() == pytest.approx(max(total, 0), abs=1e-6)
    assert np.allclose(consistent_levels(x, max(total, 0)), x)  # a consistent vector stays as it is
    if total > 0:  # optimality: no feasible move along two coordinates brings it nearer
        y = np.asarray(levels, dtype=float)
        free = x > 1e-9
        grad = x - y
        assert np.allclose(grad[free], grad[free][0], atol=1e-6)  # one multiplier on the positive part
        assert (grad[~free] >= grad[free][0] - 1e-6).all()


def test_consistent_shares_of_a_gemeente_are_unbiased_and_sum_to_one() -> None:
    """Levels summed over the wijken unclipped, then made consistent: at gemeente level the shares
    average to the truth within 0.1 percentage point; a wijk's shares always sum to 100%."""
    rng = np.random.default_rng(7)
    population = rng.integers(300, 1500, 16)
    probs = np.array([0.62, 0.24, 0.09, 0.05])
    truth = np.array([rng.multinomial(n, probs) for n in population])  # 16 wijken x 4 levels
    true_share = truth.sum(axis=0) / population.sum()
    got = []
    for _ in range(DRAWS):
        noisy = truth + np.stack([_noise(rng, 16) for _ in range(4)], axis=1)
        noisy_pop = population + _noise(rng, 16)
        wijk = level_shares(noisy, noisy_pop)
        assert np.allclose(wijk.sum(axis=1), 1.0)
        got.append(consistent_levels(noisy.sum(axis=0), noisy_pop.sum()) / noisy_pop.sum())
    bias = np.mean(got, axis=0) - true_share
    assert np.abs(bias).max() < 0.001, bias


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(-50, 500), st.floats(0.5, 50)), min_size=1, max_size=6), st.integers(1, 1500))
def test_weighted_levels_are_the_nearest_in_the_noise_metric(pairs: list[tuple[int, float]], total: int) -> None:
    """Weighted by the noise variances: x = max(y - w * theta, 0) with one theta (the KKT conditions)."""
    y = np.array([p[0] for p in pairs], dtype=float)
    w = np.array([p[1] for p in pairs])
    x = consistent_levels(y, total, w)
    assert (x >= 0).all() and x.sum() == pytest.approx(total, rel=1e-9, abs=1e-6)
    theta = (y - x) / w
    free = x > 1e-9
    assert np.allclose(theta[free], theta[free][0], atol=1e-6)
    assert (y[~free] / w[~free] <= theta[free][0] + 1e-6).all()


# ---- cumulative-risk shares of the assembly, as the report publishes them --------------------------

LEVELS = ("risk_0", "risk_1", "risk_2", "risk_3plus")
LEVEL_SCALE, POP_SCALE = 20.0, 10.0  # the 3+ level sums three slots: three noises (as a chain's top level)


def _dlap_var(scale: float) -> float:
    return 2 * np.exp(-1 / scale) / (1 - np.exp(-1 / scale)) ** 2


def _dlap(rng: np.random.Generator, scale: float, n: int) -> np.ndarray:
    p = 1 - np.exp(-1 / scale)
    return rng.geometric(p, n) - rng.geometric(p, n)


def _no_smoothing(df, gemeente_code, orientation) -> None:  # the shares read no rate_eb; saves time
    df["rate_eb"], df["moe90_eb"] = df["rate"], df["moe90"]


def _cumulative_draw(rng: np.random.Generator, population: np.ndarray, truth: np.ndarray):
    """One noised assembly of the histogram ``truth`` (cells x levels) and its population."""
    pv, lv = _dlap_var(POP_SCALE), _dlap_var(LEVEL_SCALE)
    den = NoisedRelease("population", "gemeente", tuple(int(x) for x in population + _dlap(rng, POP_SCALE, len(CELLS))),
                        POP_SCALE, pv, 1.645 * pv ** 0.5)
    nums = []
    for k, name in enumerate(LEVELS):
        slots = 3 if name.endswith("plus") else 1
        noise = sum(_dlap(rng, LEVEL_SCALE, len(CELLS)) for _ in range(slots))
        nums.append(NoisedRelease(name, "gemeente+ggd", tuple(int(x) for x in truth[:, k] + noise), LEVEL_SCALE,
                                  slots * lv, 1.645 * (slots * lv) ** 0.5))
    return assemble_index(META, CELLS, den, nums)


@pytest.fixture(scope="module")
def cumulative_draws():
    """120 draws of the per-area and TopDown shares, and the truth's 0-17 shares per area."""
    rng = np.random.default_rng(2015)
    population = rng.integers(40, 700, len(CELLS))
    truth = np.array([rng.multinomial(n, [0.70, 0.20, 0.07, 0.03]) for n in population])
    wijk_of = np.array([c.area_code for c in CELLS])
    true_share = {w: truth[wijk_of == w].sum(axis=0) / population[wijk_of == w].sum() for w in set(wijk_of)}
    true_share[META.gemeente_code] = truth.sum(axis=0) / population.sum()
    out: dict[str, list] = {"per-area": [], "topdown": []}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("wijkindex.estimators.index._smooth", _no_smoothing)
        for _ in range(120):
            idx = _cumulative_draw(rng, population, truth)
            shown = set(idx.loc[~idx["suppressed"], "wijk_code"]) - set(idx.loc[idx["suppressed"], "wijk_code"])
            for method in out:
                f = cumulative_shares(idx, LEVELS, method)
                out[method].append(f[f["wijk_code"].isin(shown | {META.gemeente_code})])
    return out, true_share


def _errors(frames, true_share, gemeente: bool) -> np.ndarray:
    """Per draw and level: the mean error of the shares (gemeente, or pooled over the wijken)."""
    rows = []
    for f in frames:
        f = f[(f["wijk_code"] == META.gemeente_code) == gemeente]
        err = f["share"] - [true_share[w][LEVELS.index(i)] for w, i in zip(f["wijk_code"], f["indicator"])]
        rows.append(err.groupby(f["indicator"]).mean().reindex(list(LEVELS)).to_numpy())
    return np.vstack(rows)


@pytest.mark.parametrize("method", ["per-area", "topdown"])
def test_gemeente_cumulative_shares_average_to_the_truth(cumulative_draws, method: str) -> None:
    """The gemeente's published 0-17 shares, made consistent from the unclipped sums over the wijken,
    average to the truth's within Monte Carlo error (4 SE) and 0.25 percentage point."""
    draws, true_share = cumulative_draws
    err = _errors(draws[method], true_share, gemeente=True)
    bias, se = err.mean(axis=0), err.std(axis=0, ddof=1) / np.sqrt(len(err))
    assert (np.abs(bias) < 4 * se + 1e-9).all() and (np.abs(bias) < 0.0025).all(), (bias, se)


@pytest.mark.parametrize("method", ["per-area", "topdown"])
def test_cumulative_shares_are_consistent_and_their_intervals_cover(cumulative_draws, method: str) -> None:
    """Every published row: shares non-negative, summing to 100%, inside their interval; the 90%
    interval covers the truth in 86-94% of wijk rows (pooled over wijken, levels and draws)."""
    draws, true_share = cumulative_draws
    inside, n = 0, 0
    for f in draws[method]:
        assert (f["share"] >= 0).all()
        assert np.allclose(f.groupby("wijk_code")["share"].sum(), 1.0)
        assert ((f["share_low90"] <= f["share"] + 1e-12) & (f["share"] <= f["share_high90"] + 1e-12)).all()
        w = f[f["wijk_code"] != META.gemeente_code]
        t = np.array([true_share[c][LEVELS.index(i)] for c, i in zip(w["wijk_code"], w["indicator"])])
        inside += int(((w["share_low90"] <= t) & (t <= w["share_high90"])).sum())
        n += len(w)
    assert 0.86 <= inside / n <= 0.94, inside / n


def test_topdown_wijken_add_up_to_the_gemeente(cumulative_draws) -> None:
    """TopDown: where no cell is suppressed, the wijken's level counts sum to the gemeente's."""
    draws, _ = cumulative_draws
    for f in draws["topdown"][:20]:
        counts = f["share"] * f["den"]
        gm = f["wijk_code"] == META.gemeente_code
        by_level = counts[~gm].groupby(f.loc[~gm, "indicator"]).sum()
        if f.loc[~gm, "wijk_code"].nunique() == 16:
            assert np.allclose(by_level.reindex(list(LEVELS)), counts[gm].to_numpy(), atol=1e-3)


def test_unbiased_shares_average_to_the_truth_where_the_display_cannot(cumulative_draws) -> None:
    """``share_unbiased`` (the unclipped split, summing to 100%) averages to the truth even for the
    wijken, whose non-negative display leans towards the rare levels; where it is non-negative the
    display equals it (the projection only acts where a level would go below 0)."""
    draws, true_share = cumulative_draws
    rows, lean = [], []
    for f in draws["per-area"]:
        assert np.allclose(f.groupby("wijk_code")["share_unbiased"].sum(), 1.0)
        clean = f.groupby("wijk_code")["share_unbiased"].transform("min") >= 0
        assert np.allclose(f.loc[clean, "share"], f.loc[clean, "share_unbiased"], atol=1e-9)
        w = f[f["wijk_code"] != META.gemeente_code]
        t = np.array([true_share[c][LEVELS.index(i)] for c, i in zip(w["wijk_code"], w["indicator"])])
        rows.append((w["share_unbiased"] - t).groupby(w["indicator"]).mean().reindex(list(LEVELS)).to_numpy())
        lean.append((w["share"] - t).groupby(w["indicator"]).mean().reindex(list(LEVELS)).to_numpy())
    err, lean = np.vstack(rows), np.vstack(lean)
    bias, se = err.mean(axis=0), err.std(axis=0, ddof=1) / np.sqrt(len(err))
    assert (np.abs(bias) < 4 * se + 1e-9).all(), (bias, se)
    assert lean.mean(axis=0)[-1] > 4 * lean.std(axis=0, ddof=1)[-1] / np.sqrt(len(lean))  # the display's lean is real
