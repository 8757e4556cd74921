"""Empirical-Bayes (Fay-Herriot) shrinkage of noised area rates: post-processing, free in DP terms.

A wijk's noised rate is the true rate plus noise of known variance (from the release's
noise scale). Across the wijken of a gemeente the true rates spread with a between-area
variance tau^2, estimated by Paule-Mandel. Each wijk's estimate is pulled towards the
gemeente rate by the share of its variance that is noise: small, noisy cells move most,
large cells hardly at all. This is how small-area statistics (CBS among them) estimate
rates for small areas; the direct rate stays in the index next to it.
"""

from __future__ import annotations

import numpy as np


def paule_mandel(rates: np.ndarray, variances: np.ndarray, centre: float) -> float:
    """Between-area variance tau^2 with sum((r - centre)^2 / (tau^2 + v)) = n - 1 (0 if none)."""
    n = len(rates)
    if n < 3:
        return 0.0

    def excess(tau2: float) -> float:
        return float(((rates - centre) ** 2 / (tau2 + variances)).sum()) - (n - 1)

    if excess(0.0) <= 0:
        return 0.0
    lo, hi = 0.0, 1.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if excess(mid) > 0 else (lo, mid)
    return (lo + hi) / 2


def shrink(rates: np.ndarray, variances: np.ndarray, centre: float) -> tuple[np.ndarray, np.ndarray]:
    """Empirical-Bayes estimates and their posterior variances, shrunk towards ``centre``."""
    rates = np.asarray(rates, dtype=float)
    variances = np.asarray(variances, dtype=float)
    tau2 = paule_mandel(rates, variances, centre)
    weight = tau2 / (tau2 + variances) if tau2 > 0 else np.zeros_like(rates)
    return centre + weight * (rates - centre), weight * variances
