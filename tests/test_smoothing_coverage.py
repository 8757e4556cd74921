"""rate_eb's 90% margins through the real assembly: a fixed truth of 16 wijken re-noised, as
bench/bench_validity.py measures it. The margins must hold overall and not lean by wijk size: the
old model (one binomial centre, no covariate error, Prasad-Rao's linearised g3) covered the small
wijken here 85% (and in bench_validity wijken over 1,500 children 97%), which a pooled figure near
90% hid."""

from __future__ import annotations

import numpy as np

from wijkindex.estimators.index import IndexMeta, NoisedRelease, assemble_index
from wijkindex.protocol.messages import Cell

Z90 = 1.6448536269514722
SCALE = 6.0
WIJKEN = [f"WK99{i:02d}" for i in range(16)]
CELLS = [Cell(w, w, "0-17") for w in WIJKEN]
META = IndexMeta("cov", 2024, "GM9999", "Testgemeente", min_cell_size=10)
BASE = {"a": 0.12, "b": 0.20, "c": 0.06, "d": 0.30, "e": 0.01}  # risk indicators that cluster in the same wijken, one rare


def _dlap(rng: np.random.Generator, n: int) -> np.ndarray:
    p = 1 - np.exp(-1 / SCALE)
    return rng.geometric(p, n) - rng.geometric(p, n)


def _release(name: str, counts: np.ndarray, rng: np.random.Generator) -> NoisedRelease:
    var = 2 * np.exp(-1 / SCALE) / (1 - np.exp(-1 / SCALE)) ** 2
    return NoisedRelease(name, "src", tuple(int(x) for x in counts + _dlap(rng, len(counts))), SCALE, var,
                         Z90 * var ** 0.5)


def test_rate_eb_margins_cover_90_percent_for_small_and_large_wijken() -> None:
    rng = np.random.default_rng(12)
    sizes = np.geomspace(40, 2500, 16).round().astype(int)
    deprivation = rng.normal(0, 0.45, 16)
    truth = {i: rng.binomial(sizes, np.clip(b * np.exp(deprivation + rng.normal(0, 0.15, 16)), 0, 0.95))
             for i, b in BASE.items()}
    hits = {"small": [], "large": []}
    for _ in range(40):
        idx = assemble_index(META, CELLS, _release("population", sizes, rng),
                             [_release(i, t, rng) for i, t in truth.items()], orientation={i: 1 for i in BASE})
        w = idx[(idx["wijk_code"] != META.gemeente_code) & ~idx["suppressed"]]
        for i, t in truth.items():
            r = w[w["indicator"] == i].set_index("wijk_code").reindex(WIJKEN)
            true_rate = t / sizes
            inside = (np.abs(r["rate_eb"].to_numpy() - true_rate) <= r["moe90_eb"].to_numpy() + 1e-12)
            ok = r["rate_eb"].notna().to_numpy()
            hits["small"] += list(inside[ok & (sizes < 300)])
            hits["large"] += list(inside[ok & (sizes >= 300)])
    small, large = np.mean(hits["small"]), np.mean(hits["large"])
    overall = np.mean(hits["small"] + hits["large"])
    assert 0.87 <= overall <= 0.93, (overall, small, large)  # 0.898 (the old model: 0.881)
    assert 0.87 <= small <= 0.95 and 0.85 <= large <= 0.95, (small, large)  # 0.894, 0.903 (old: 0.848, 0.913)
