"""Empirical-Bayes (Fay-Herriot) estimates of noised area rates: post-processing, free in DP terms.

A wijk's noised rate is the true rate plus noise of known variance (from the release's
noise scale). Across the wijken of a gemeente the true rates scatter around a prediction
(the gemeente rate, or a regression on covariates) with a between-area variance tau^2,
estimated by Paule-Mandel. Each wijk's estimate is pulled towards its prediction by the
share of its variance that is noise: small, noisy cells move most, large cells hardly at
all. This is the area-level model of small-area estimation (Fay and Herriot 1979; CBS and
the US Census Bureau's SAIPE estimate small-area rates with it); the direct rate stays in
the index next to it.
"""

from __future__ import annotations

import numpy as np


def _solve_tau2(excess, upper: float) -> float:  # type: ignore[no-untyped-def]
    """The tau^2 >= 0 where the decreasing function ``excess`` crosses 0 (0 if it starts below)."""
    if excess(0.0) <= 0:
        return 0.0
    lo, hi = 0.0, max(upper, 1e-12)
    while excess(hi) > 0:
        hi *= 2
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if excess(mid) > 0 else (lo, mid)
    return (lo + hi) / 2


def paule_mandel(rates: np.ndarray, variances: np.ndarray, centre: float) -> float:
    """Between-area variance tau^2 with sum((r - centre)^2 / (tau^2 + v)) = n - 1 (0 if none)."""
    n = len(rates)
    if n < 3:
        return 0.0
    return _solve_tau2(lambda tau2: float(((rates - centre) ** 2 / (tau2 + variances)).sum()) - (n - 1), 1.0)


def shrink(rates: np.ndarray, variances: np.ndarray, centre: float) -> tuple[np.ndarray, np.ndarray]:
    """Empirical-Bayes estimates and their posterior variances, shrunk towards ``centre``."""
    rates = np.asarray(rates, dtype=float)
    variances = np.asarray(variances, dtype=float)
    tau2 = paule_mandel(rates, variances, centre)
    weight = tau2 / (tau2 + variances) if tau2 > 0 else np.zeros_like(rates)
    return centre + weight * (rates - centre), weight * variances


def fay_herriot(y: np.ndarray, variances: np.ndarray, covariates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fay-Herriot estimates of ``y`` (noise variances known) under y = X beta + u + e, u ~ N(0, tau^2).

    ``covariates`` is X (n, p), an intercept column included by the caller. beta is fitted by
    weighted least squares and tau^2 by Paule-Mandel with n - p degrees of freedom. Returns the
    estimates and their mean squared errors: the posterior variance plus the part that comes
    from estimating beta (Prasad and Rao's g2), so a margin of error does not pretend beta is known.
    """
    y = np.asarray(y, dtype=float)
    v = np.asarray(variances, dtype=float)
    x = np.asarray(covariates, dtype=float)
    n, p = x.shape
    if n < p + 2:
        raise ValueError(f"Fay-Herriot needs at least {p + 2} areas for {p} covariate(s), got {n}")

    def fit(tau2: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        w = 1.0 / (tau2 + v)
        xtw = x.T * w
        information = xtw @ x
        return np.linalg.solve(information, xtw @ y), w, information

    def excess(tau2: float) -> float:
        beta, w, _ = fit(tau2)
        return float(((y - x @ beta) ** 2 * w).sum()) - (n - p)

    tau2 = _solve_tau2(excess, float(np.var(y)) * 10)
    beta, _, information = fit(tau2)
    predicted = x @ beta
    g = tau2 / (tau2 + v)
    g2 = (1 - g) ** 2 * np.einsum("ij,jk,ik->i", x, np.linalg.inv(information), x)
    return predicted + g * (y - predicted), g * v + g2
