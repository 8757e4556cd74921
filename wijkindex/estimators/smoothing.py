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

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from wijkindex.vocabulary import Z90

MIN_AREAS_FOR_REGRESSION = 5  # fewer wijken: shrink towards the gemeente rate instead


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


def paule_mandel(rates: np.ndarray, variances: np.ndarray, centre: float, prior: np.ndarray | float = 0.0) -> float:
    """Between-area variance tau^2 with sum((r - centre)^2 / (tau^2 + prior + v)) = n - 1 (0 if none)."""
    n = len(rates)
    if n < 3:
        return 0.0
    total = prior + np.asarray(variances, dtype=float)
    return _solve_tau2(lambda tau2: float(((rates - centre) ** 2 / (tau2 + total)).sum()) - (n - 1), 1.0)


def shrink(rates: np.ndarray, variances: np.ndarray, centre: float,
           prior: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Empirical-Bayes estimates and their MSEs, shrunk towards ``centre``; ``prior`` is the part of
    each area's spread around it that is known beforehand (binomial_spread), tau^2 comes on top."""
    rates = np.asarray(rates, dtype=float)
    variances = np.asarray(variances, dtype=float)
    spread = paule_mandel(rates, variances, centre, prior) + np.broadcast_to(prior, rates.shape)
    weight = np.where(spread > 0, spread / np.maximum(spread + variances, 1e-300), 0.0)
    return centre + weight * (rates - centre), weight * variances + 2 * _g3(spread, variances)


def fay_herriot(y: np.ndarray, variances: np.ndarray, covariates: np.ndarray,
                prior: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Fay-Herriot estimates of ``y`` (noise variances known) under y = X beta + u + e,
    u ~ N(0, tau^2 + prior) with ``prior`` a known part per area (binomial_spread; 0: classic FH).

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
    known = np.broadcast_to(np.asarray(prior, dtype=float), y.shape)

    def fit(tau2: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        w = 1.0 / (tau2 + known + v)
        xtw = x.T * w
        information = xtw @ x
        return np.linalg.solve(information, xtw @ y), w, information

    def excess(tau2: float) -> float:
        beta, w, _ = fit(tau2)
        return float(((y - x @ beta) ** 2 * w).sum()) - (n - p)

    tau2 = _solve_tau2(excess, float(np.var(y)) * 10)
    beta, _, information = fit(tau2)
    predicted = x @ beta
    spread = tau2 + known
    g = spread / (spread + v)
    g2 = (1 - g) ** 2 * np.einsum("ij,jk,ik->i", x, np.linalg.inv(information), x)
    return predicted + g * (y - predicted), g * v + g2 + 2 * _g3(spread, v)


def _g3(spread: np.ndarray | float, v: np.ndarray) -> np.ndarray:
    """Prasad and Rao's g3: the MSE that comes from estimating tau^2, with the asymptotic variance
    of the Fay-Herriot (Paule-Mandel) moment estimator, 2m / (sum 1/(A + v))^2 (Datta, Rao and
    Smith 2005), A the area's prior variance. With 16 wijken it is not small: leaving it out made
    90% margins cover ~79%."""
    var_tau2 = 2 * len(v) / float((1.0 / (spread + v)).sum()) ** 2
    return v ** 2 / (spread + v) ** 3 * var_tau2


def binomial_spread(centre: float, sizes: np.ndarray) -> np.ndarray:
    """How far a wijk's true rate strays from its expected rate by chance alone: with N children
    and expected rate p, the rate of those N children varies as p(1 - p) / N (binomial). A small
    wijk's truth is far from any smooth prediction; without this, small wijken got margins that
    covered 25-50% and the 90% margins of rate_eb 84% (bench_validity)."""
    p = min(max(float(centre), 0.0), 1.0)
    return p * (1 - p) / np.maximum(np.asarray(sizes, dtype=float), 1.0)


def estimate(rates: np.ndarray, variances: np.ndarray, centre: float, covariate: np.ndarray | None = None,
             sizes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Small-area estimates of the wijken's rates and their MSEs: Fay-Herriot on [1, covariate]
    where there is one to regress on (enough wijken, a covariate that varies), else shrinkage
    towards ``centre`` (the gemeente rate). ``sizes`` (the wijken's children) adds the binomial
    spread of a small population's rate to the model; the estimates are clipped to [0, 1]."""
    est, var = _fit(rates, variances, centre, covariate, sizes)
    return np.clip(est, 0.0, 1.0), var


def estimate_with_margin(rates: np.ndarray, variances: np.ndarray, centre: float,
                         covariate: np.ndarray | None = None,
                         sizes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``estimate``'s rates with a 90% margin that is honest at 0 and 1 (clip_interval)."""
    est, var = _fit(rates, variances, centre, covariate, sizes)
    return clip_interval(est, Z90 * np.sqrt(var))


def clip_interval(est: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A rate clipped to [0, 1] and the margin of the interval est +- half clipped to [0, 1]: for a
    negative estimate shown as 0 the margin reaches only est + half, not half, so the published
    interval is the one that was computed (shifting it up with the rate made it cover too often)."""
    est, half = np.asarray(est, dtype=float), np.asarray(half, dtype=float)
    shown = np.clip(est, 0.0, 1.0)
    lo, hi = np.clip(est - half, 0.0, 1.0), np.clip(est + half, 0.0, 1.0)
    return shown, np.maximum(shown - lo, hi - shown)


def _fit(rates: np.ndarray, variances: np.ndarray, centre: float, covariate: np.ndarray | None,
         sizes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    rates = np.asarray(rates, dtype=float)
    variances = np.asarray(variances, dtype=float)
    prior = binomial_spread(centre, sizes) if sizes is not None else 0.0
    if (covariate is not None and len(rates) >= MIN_AREAS_FOR_REGRESSION and np.isfinite(covariate).all()
            and np.ptp(covariate) > 0):
        return fay_herriot(rates, variances, np.column_stack([np.ones(len(rates)), covariate]), prior)
    return shrink(rates, variances, centre, prior)


@dataclass(frozen=True)
class Standing:
    """How each wijk stands on the risk indicators: the covariate of the small-area estimates.

    ``overall`` is per wijk the precision-weighted mean oriented index over the indicators;
    ``without`` per oriented indicator the same mean without it, so no rate predicts itself
    from its own noise.
    """

    overall: pd.Series
    without: Mapping[str, pd.Series]

    def covariate(self, indicator: str, wijk_codes: pd.Series) -> np.ndarray | None:
        """The covariate for ``indicator`` at these wijken, or None when there is no standing."""
        if not len(self.overall):
            return None
        return self.without.get(indicator, self.overall).reindex(wijk_codes).to_numpy()


def standing(wijk_rates: pd.DataFrame, orientation: Mapping[str, int]) -> Standing:
    """How each wijk (not the gemeente) stands on the risk indicators.

    ``wijk_rates`` has per wijk and indicator the direct 0-17 ``rate_raw``, its noise ``var``, the
    ``gemeente_rate`` and ``gemeente_code`` (index.wijk_totals); ``orientation`` maps indicators to
    +1 (risk) or -1 (protective: 120 counts as 80). Risk factors cluster in the same wijken, which
    is what makes the standing a good predictor.
    """
    ok = wijk_rates[(wijk_rates["wijk_code"] != wijk_rates["gemeente_code"]) & wijk_rates["rate_raw"].notna()
                    & (wijk_rates["var"] > 0) & (wijk_rates["gemeente_rate"] > 0)]
    inds = [i for i in orientation if i in set(ok["indicator"])]
    if len(inds) < 2:
        return Standing(pd.Series(dtype=float), {})
    direct = ok.assign(index=100 * ok["rate_raw"] / ok["gemeente_rate"],
                       iv=ok["var"] * (100 / ok["gemeente_rate"]) ** 2)
    y = direct.pivot(index="wijk_code", columns="indicator", values="index")[inds]
    protective = [i for i in inds if orientation[i] < 0]
    y[protective] = 200 - y[protective]
    w = (1.0 / direct.pivot(index="wijk_code", columns="indicator", values="iv")[inds]).where(y.notna(), 0.0)
    wy, ws = (y.fillna(0) * w).sum(axis=1), w.sum(axis=1)
    return Standing(wy / ws.where(ws > 0),
                    {i: (wy - y[i].fillna(0) * w[i]) / (ws - w[i]).where(ws - w[i] > 0) for i in inds})
