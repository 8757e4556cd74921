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
from typing import Iterable, Mapping

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
        if hi - lo <= 1e-9 * hi:  # far below any margin's precision
            break
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
                prior: np.ndarray | float = 0.0, covariate_var: np.ndarray | None = None,
                sizes: np.ndarray | None = None, method: str = "jackknife") -> tuple[np.ndarray, np.ndarray]:
    """Fay-Herriot estimates of ``y`` (noise variances known) under y = X beta + u + e,
    u ~ N(0, tau^2 + known_i) with a known part per area (0 and no sizes: classic FH).

    ``covariates`` is X (n, p), an intercept column included by the caller. beta is fitted by
    weighted least squares and tau^2 by Paule-Mandel with n - p degrees of freedom. Returns the
    estimates and their mean squared errors: the posterior variance plus the part that comes
    from estimating beta (Prasad and Rao's g2), so a margin of error does not pretend beta is known.

    Two known parts make the model's spread differ per area, as it does:

    - ``sizes`` (children per area): the binomial spread p_i (1 - p_i) / N_i of a realised rate
      around its expected rate, with p_i the area's own prediction x_i beta (iterated with the fit),
      not one centre for all: a wijk where 40% of children live on huurtoeslag strays from its
      expectation by chance twice as far as one at 10% (``binomial_spread``; without sizes,
      ``prior`` is used as given).
    - ``covariate_var`` (n, p), or (n,) for the last column: the variance of each covariate's
      measurement error. The standing a wijk is predicted from is itself a noised figure, and
      noisier in a small wijk; its error moves the prediction by beta times the error, so it is
      part of that area's spread (Ybarra and Lohr 2008: gamma_i = (tau^2 + b'C_i b) /
      (tau^2 + b'C_i b + psi_i)). Leaving it out gives every area the average covariate error
      through tau^2: small wijken's margins were too narrow (84% coverage at N <= 100) and large
      ones too wide (97% at N > 1,500, bench_validity).
    """
    y = np.asarray(y, dtype=float)
    v = np.asarray(variances, dtype=float)
    x = np.asarray(covariates, dtype=float)
    n, p = x.shape
    if n < p + 2:
        raise ValueError(f"Fay-Herriot needs at least {p + 2} areas for {p} covariate(s), got {n}")
    given = np.broadcast_to(np.asarray(prior, dtype=float), y.shape)
    c = np.zeros((n, p))
    if covariate_var is not None:
        cv = np.nan_to_num(np.asarray(covariate_var, dtype=float), nan=0.0)
        if cv.ndim == 1:
            c[:, -1] = cv
        else:
            c[:] = cv
    model = _FayHerriot(x, v, given, c, sizes)
    beta, tau2, information = model.fit(y, np.ones(n, bool))
    est, g1, spread = model.apply(y, beta, tau2)
    if method == "jackknife" and n >= p + 3:
        return est, _jackknife_mse(model, y, est, g1, beta)
    g = spread / (spread + v)
    g2 = (1 - g) ** 2 * np.einsum("ij,jk,ik->i", x, np.linalg.inv(information), x)
    return est, g1 + g2 + 2 * _g3(spread, v)


@dataclass(frozen=True)
class _FayHerriot:
    """The model of ``fay_herriot``: covariates, noise variances and the known spread's parts."""

    x: np.ndarray
    v: np.ndarray
    given: np.ndarray
    c: np.ndarray
    sizes: np.ndarray | None

    def known(self, beta: np.ndarray) -> np.ndarray:
        """Each area's known spread at ``beta``: binomial at its prediction plus the covariate error's."""
        binomial = (binomial_spread(np.clip(self.x @ beta, 0.0, 1.0), self.sizes) if self.sizes is not None
                    else self.given)
        return binomial + (self.c * beta ** 2).sum(axis=1)

    def fit(self, y: np.ndarray, use: np.ndarray,
            start: np.ndarray | None = None) -> tuple[np.ndarray, float, np.ndarray]:
        """beta, tau^2 and the information matrix from the areas in ``use`` (iterated: the known
        spread depends on beta through the prediction and the covariate's error)."""
        x, v, yy = self.x[use], self.v[use], y[use]
        m, p = x.shape

        def wls(tau2: float, known: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            w = 1.0 / (tau2 + known + v)
            xtw = x.T * w
            information = xtw @ x
            return np.linalg.solve(information, xtw @ yy), w, information

        beta = wls(0.0, self.given[use])[0] if start is None else start
        tau2, information = 0.0, np.eye(p)
        for _ in range(4):
            known = self.known(beta)[use]

            def excess(t: float) -> float:
                b, w, _ = wls(t, known)
                return float(((yy - x @ b) ** 2 * w).sum()) - (m - p)

            tau2 = _solve_tau2(excess, float(np.var(yy)) * 10)
            new_beta, _, information = wls(tau2, known)
            done = np.allclose(new_beta, beta, rtol=1e-4, atol=1e-9)
            beta = new_beta
            if done:
                break
        return beta, tau2, information

    def apply(self, y: np.ndarray, beta: np.ndarray, tau2: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every area's estimate, posterior variance g1 and model spread at (beta, tau^2)."""
        predicted = self.x @ beta
        spread = tau2 + self.known(beta)
        g = spread / (spread + self.v)
        return predicted + g * (y - predicted), g * self.v, spread


def _jackknife_mse(model: _FayHerriot, y: np.ndarray, est: np.ndarray, g1: np.ndarray,
                   beta: np.ndarray) -> np.ndarray:
    """The MSE of the EB estimates by the jackknife of Jiang, Lahiri and Wan (2002): refit without
    each area in turn; the spread of the estimates over the refits is the error from estimating
    beta and tau^2, and the shift of g1 corrects g1's own bias. Unlike Prasad and Rao's g2 + 2 g3 it
    does not linearise in tau^2: with tau^2 near 0 and a few very precise wijken the linearised g3
    grows like 1/v and gave the most precise wijken margins four times their noise (97% coverage
    for wijken above 1,500 children, bench_validity); the jackknife's refits are real estimates, so
    the term stays of the size the estimates actually move."""
    n = len(y)
    est_u, g1_u = np.empty((n, n)), np.empty((n, n))
    for u in range(n):
        use = np.arange(n) != u
        beta_u, tau2, _ = model.fit(y, use, start=beta)
        est_u[u], g1_u[u], _ = model.apply(y, beta_u, tau2)
    factor = (n - 1) / n
    corrected = g1 - factor * (g1_u - g1).sum(axis=0)
    corrected = np.where(corrected > 0, corrected, g1)  # the bias correction overshot: keep g1
    return corrected + factor * ((est_u - est) ** 2).sum(axis=0)


def _g3(spread: np.ndarray | float, v: np.ndarray) -> np.ndarray:
    """Prasad and Rao's g3: the MSE that comes from estimating tau^2, with the asymptotic variance
    of the Fay-Herriot (Paule-Mandel) moment estimator, 2m / (sum 1/(A + v))^2 (Datta, Rao and
    Smith 2005), A the area's prior variance. With 16 wijken it is not small: leaving it out made
    90% margins cover ~79%."""
    var_tau2 = 2 * len(v) / float((1.0 / (spread + v)).sum()) ** 2
    return v ** 2 / (spread + v) ** 3 * var_tau2


def binomial_spread(centre: float | np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """How far a wijk's true rate strays from its expected rate by chance alone: with N children
    and expected rate p, the rate of those N children varies as p(1 - p) / N (binomial). A small
    wijk's truth is far from any smooth prediction; without this, small wijken got margins that
    covered 25-50% and the 90% margins of rate_eb 84% (bench_validity). ``centre`` is one expected
    rate for all or one per wijk (Fay-Herriot passes each wijk's prediction)."""
    p = np.clip(np.asarray(centre, dtype=float), 0.0, 1.0)
    return p * (1 - p) / np.maximum(np.asarray(sizes, dtype=float), 1.0)


def estimate(rates: np.ndarray, variances: np.ndarray, centre: float, covariate: np.ndarray | None = None,
             sizes: np.ndarray | None = None,
             covariate_var: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Small-area estimates of the wijken's rates and their MSEs: Fay-Herriot on [1, covariate]
    where there is one to regress on (enough wijken, a covariate that varies), else shrinkage
    towards ``centre`` (the gemeente rate). ``sizes`` (the wijken's children) adds the binomial
    spread of a small population's rate to the model, ``covariate_var`` the covariate's own noise
    (Standing.covariate_variance); the estimates are clipped to [0, 1]."""
    est, var = _fit(rates, variances, centre, covariate, sizes, covariate_var)
    return np.clip(est, 0.0, 1.0), var


def estimate_with_margin(rates: np.ndarray, variances: np.ndarray, centre: float,
                         covariate: np.ndarray | None = None,
                         sizes: np.ndarray | None = None,
                         covariate_var: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``estimate``'s rates with a 90% margin that is honest at 0 and 1 (clip_interval)."""
    est, var = _fit(rates, variances, centre, covariate, sizes, covariate_var)
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
         sizes: np.ndarray | None, covariate_var: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    rates = np.asarray(rates, dtype=float)
    variances = np.asarray(variances, dtype=float)
    prior = binomial_spread(centre, sizes) if sizes is not None else 0.0
    if (covariate is not None and len(rates) >= MIN_AREAS_FOR_REGRESSION and np.isfinite(covariate).all()
            and np.ptp(covariate) > 0):
        return fay_herriot(rates, variances, np.column_stack([np.ones(len(rates)), covariate]), prior,
                           covariate_var=covariate_var, sizes=sizes)
    return shrink(rates, variances, centre, prior)


@dataclass(frozen=True)
class Standing:
    """How each wijk stands on the risk indicators: the covariate of the small-area estimates.

    ``index`` has per wijk (rows) and oriented indicator (columns) the direct index, protective
    ones turned round (120 counts as 80); ``weight`` its inverse noise variance. A covariate is
    the precision-weighted mean over the indicators, leaving out the ones it predicts, so that no
    rate predicts itself from its own noise; its noise variance is 1 / the sum of the weights.
    """

    index: pd.DataFrame
    weight: pd.DataFrame

    def excluding(self, indicators: Iterable[str],
                  wijk_codes: pd.Series) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The standing on every indicator but ``indicators`` at these wijken and its noise variance,
        or (None, None) when there is none."""
        leave_out = set(indicators)
        keep = [c for c in self.index.columns if c not in leave_out]
        if not len(self.index) or not keep:
            return None, None
        w = self.weight[keep]
        wy, ws = (self.index[keep].fillna(0) * w).sum(axis=1), w.sum(axis=1)
        ws = ws.where(ws > 0)
        return (wy / ws).reindex(wijk_codes).to_numpy(), (1.0 / ws).reindex(wijk_codes).to_numpy()

    def covariate(self, indicator: str, wijk_codes: pd.Series) -> np.ndarray | None:
        """The covariate for ``indicator`` at these wijken, or None when there is no standing."""
        return self.excluding((indicator,), wijk_codes)[0]

    def covariate_variance(self, indicator: str, wijk_codes: pd.Series) -> np.ndarray | None:
        """The noise variance of ``covariate`` (its measurement error), or None when unknown."""
        return self.excluding((indicator,), wijk_codes)[1]


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
        return Standing(pd.DataFrame(), pd.DataFrame())
    direct = ok.assign(index=100 * ok["rate_raw"] / ok["gemeente_rate"],
                       iv=ok["var"] * (100 / ok["gemeente_rate"]) ** 2)
    y = direct.pivot(index="wijk_code", columns="indicator", values="index")[inds]
    protective = [i for i in inds if orientation[i] < 0]
    y[protective] = 200 - y[protective]
    w = (1.0 / direct.pivot(index="wijk_code", columns="indicator", values="iv")[inds]).where(y.notna(), 0.0)
    return Standing(y, w)
