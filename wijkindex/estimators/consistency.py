"""Consistent post-processing: noised parts made to add up to their noised whole.

A cumulative-risk histogram (children with 0, 1, 2, 3+ risk factors) is released level by
level, each with its own noise, so the levels of a cell need not be non-negative or sum to
the cell's population. ``consistent_levels`` gives the nearest vector that is non-negative and
sums to the population, nearest in the metric of the levels' noise variances (a noisier level
absorbs more of the discrepancy), as the Census TopDown post-processing does per geography.

Where the bias comes from: making a level non-negative pushes a noisy level near zero up, and
the other levels down. The gemeente row is therefore made consistent from the unclipped sums
over the wijken (never from sums of projected wijk levels). ``cumulative_shares`` builds the
published table: per area (``per-area``) or the gemeente first and its wijken under it so
that they add up to it (``topdown``); ``bench/bench_validity.py`` measures both. The 90%
interval of a share comes from the unclipped levels shifted to sum to the population (each by its
share of the variance: unbiased, possibly negative) and the known noise variances, so its
coverage does not depend on the projection.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from wijkindex.estimators.index import noisy_columns
from wijkindex.vocabulary import Z90

METHODS = ("per-area", "topdown")


def consistent_levels(levels: Sequence[float], total: float,
                      variances: Sequence[float] | None = None) -> np.ndarray:
    """argmin sum (x - levels)^2 / variances subject to x >= 0 and sum(x) = max(total, 0)
    (equal variances: the Euclidean simplex projection of Duchi et al. 2008)."""
    y = np.asarray(levels, dtype=float)
    w = np.ones_like(y) if variances is None else np.asarray(variances, dtype=float)
    if len(y) == 0:
        return y
    return project_rows(y[None, :], np.array([float(total)]), w[None, :])[0]


def project_rows(y: np.ndarray, totals: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``consistent_levels`` of every row of ``y`` at once (rows of weights ``w``, sums ``totals``)."""
    t = np.maximum(np.asarray(totals, dtype=float), 0.0)
    order = np.argsort(-y / w, axis=1, kind="stable")
    ys, ws = np.take_along_axis(y, order, 1), np.take_along_axis(w, order, 1)
    theta = (np.cumsum(ys, axis=1) - t[:, None]) / np.cumsum(ws, axis=1)
    positive = ys - ws * theta > 0
    rho = y.shape[1] - 1 - np.argmax(positive[:, ::-1], axis=1)  # the last positive one
    x = np.maximum(y - w * theta[np.arange(len(y)), rho][:, None], 0.0)
    x[t == 0] = 0.0
    return x


def level_shares(counts: np.ndarray, totals: np.ndarray, variances: np.ndarray | None = None) -> np.ndarray:
    """Row by row: ``consistent_levels`` of each row of counts, as shares of its total (rows sum to 1,
    or are all NaN where the total is not positive)."""
    counts = np.asarray(counts, dtype=float)
    out = np.full(counts.shape, np.nan)
    for i, (row, total) in enumerate(zip(counts, np.asarray(totals, dtype=float))):
        if np.isfinite(total) and total > 0 and np.isfinite(row).all():
            w = None if variances is None else np.asarray(variances)[i]
            out[i] = consistent_levels(row, total, w) / total
    return out


# ---- the published table ------------------------------------------------------------------------

def level_table(index: pd.DataFrame, levels: Sequence[str]) -> pd.DataFrame:
    """Per area (wijk or gemeente) over its non-suppressed bands: unclipped level counts
    (``num``), population (``den``), their noise variances, one row per area and level."""
    rows = index[index["indicator"].isin(levels) & ~index["suppressed"].astype(bool)].copy()
    rows["num_var"] = (rows["numerator_moe90"].astype(float) / Z90) ** 2
    rows["den_var"] = (rows["denominator_moe90"].astype(float) / Z90) ** 2
    num, den = noisy_columns(rows)
    t = rows.groupby(["wijk_code", "wijk_name", "indicator"], sort=False).agg(
        num=(num, "sum"), den=(den, "sum"), num_var=("num_var", "sum"), den_var=("den_var", "sum")).reset_index()
    t[["num", "den"]] = t[["num", "den"]].astype(float)
    return t


def _wide(t: pd.DataFrame, levels: Sequence[str], column: str) -> pd.DataFrame:
    areas = pd.MultiIndex.from_frame(t[["wijk_code", "wijk_name"]].drop_duplicates())
    return t.set_index(["wijk_code", "wijk_name", "indicator"])[column].unstack("indicator").reindex(
        index=areas, columns=list(levels)).rename_axis(columns="indicator")


def _topdown(wijk: np.ndarray, totals: np.ndarray, var: np.ndarray, gemeente: np.ndarray,
             iterations: int = 300) -> np.ndarray:
    """Rows non-negative summing to ``totals`` and columns summing to ``gemeente`` (nearest in the
    variance metric; Dykstra's alternating projections)."""
    x, p, q = wijk.copy(), np.zeros_like(wijk), np.zeros_like(wijk)
    for _ in range(iterations):
        y = project_rows(x + p, totals, var)
        p = x + p - y
        x = (y + q) - var * (((y + q).sum(axis=0) - gemeente) / var.sum(axis=0))
        q = y + q - x
        if np.abs(x - y).max() < 1e-6:
            break
    return project_rows(x, totals, var)


def cumulative_shares(index: pd.DataFrame, levels: Sequence[str], method: str = "per-area") -> pd.DataFrame:
    """Per area and level over the non-suppressed bands: ``share`` (non-negative, summing to 1 per
    area) and its 90% interval ``share_low90``/``share_high90``. ``topdown`` makes the wijken's
    levels add up to the gemeente's (the suppressed cells, pooled, make up the rest).

    ``share_unbiased`` is the least-squares split under the sum constraint alone: the unclipped
    levels shifted to sum to the population, each by its share of the noise variance. It sums to 1,
    its expectation is the true share at every level, area and band, and it can be negative; it is
    what the interval is centred on and what any figure built on the shares must use. ``share`` is
    the display: it cannot be both non-negative and unbiased where the truth is near 0 (at truth 0
    an unbiased estimate must average 0, so a non-negative one would have to be 0 in every draw),
    so it is ``share_unbiased`` wherever that is non-negative and the projection only where it is
    not. At the gemeente's 0-17 that is rare and the bias within the Monte Carlo error; per band
    (0-3: the 3+ share true 2.4%, noise about 3 points) the projection moves it up by about
    +0.7 points, which is why the report publishes 0-17 only (bench_validity measures both)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    t = level_table(index, levels)
    num, var = _wide(t, levels, "num"), _wide(t, levels, "num_var")
    den = t.groupby(["wijk_code", "wijk_name"], sort=False)["den"].max().reindex(num.index)
    den_var = t.groupby(["wijk_code", "wijk_name"], sort=False)["den_var"].max().reindex(num.index)
    ok = (den.to_numpy() > 0) & np.isfinite(num.to_numpy()).all(axis=1)
    counts = np.full(num.shape, np.nan)
    counts[ok] = project_rows(num.to_numpy()[ok], den.to_numpy()[ok], var.to_numpy()[ok])
    if method == "topdown":
        counts = _fit_under_gemeente(index, levels, num, den, var, counts)
    out = pd.DataFrame(counts / den.to_numpy()[:, None], index=num.index, columns=num.columns)
    lin, lo, hi = _intervals(num.to_numpy(), den.to_numpy(), var.to_numpy(), den_var.to_numpy(), out.to_numpy())
    frame = pd.DataFrame({"share": out.stack(), "share_low90": pd.DataFrame(lo, num.index, num.columns).stack(),
                          "share_high90": pd.DataFrame(hi, num.index, num.columns).stack(),
                          "share_unbiased": pd.DataFrame(lin, num.index, num.columns).stack()}).reset_index()
    return t.merge(frame, on=["wijk_code", "wijk_name", "indicator"], how="left")


def _fit_under_gemeente(index: pd.DataFrame, levels: Sequence[str], num: pd.DataFrame, den: pd.Series,
                        var: pd.DataFrame, counts: np.ndarray) -> np.ndarray:
    """The wijk rows of ``counts`` refitted (TopDown) under the gemeente row's consistent levels;
    a pooled row of everything not shown (suppressed cells) takes up the remainder."""
    gm = str(index["gemeente_code"].iloc[0])
    is_gm = num.index.get_level_values(0) == gm
    if is_gm.sum() != 1 or not np.isfinite(counts[is_gm]).all():
        return counts
    ok = ~is_gm & (den.to_numpy() > 0)
    g_den = float(den[is_gm].iloc[0])
    rest_num = num[is_gm].to_numpy()[0] - num[ok].to_numpy().sum(axis=0)
    rest_den = g_den - den[ok].to_numpy().sum()
    rows = np.vstack([num[ok].to_numpy(), rest_num])
    totals = np.append(den[ok].to_numpy(), max(rest_den, 0.0))
    totals *= g_den / totals.sum()  # rows add up to the gemeente (differs only if a row was negative)
    rest_var = np.maximum(var[is_gm].to_numpy()[0] - var[ok].to_numpy().sum(axis=0), var.to_numpy().min())
    fitted = _topdown(rows, totals, np.vstack([var[ok].to_numpy(), rest_var]), counts[is_gm][0])
    out = counts.copy()
    out[ok] = fitted[:-1] * (den[ok].to_numpy() / totals[:-1])[:, None]
    return out


def _intervals(num: np.ndarray, den: np.ndarray, var: np.ndarray, den_var: np.ndarray,
               shares: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The linear (unclipped, unbiased) share per level and its 90% interval: ± Z90 SE, within
    [0, 1] and around the shown share."""
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(den > 0, den, np.nan)[:, None]
        V = var.sum(axis=1, keepdims=True)
        lin = (num - var * (num.sum(axis=1, keepdims=True) - d) / V) / d
        var_level = var - var ** 2 / V + (var / V) ** 2 * den_var[:, None]
        share_var = (var_level - 2 * lin * var / V * den_var[:, None] + lin ** 2 * den_var[:, None]) / d ** 2
        half = Z90 * np.sqrt(np.maximum(share_var, 0))
    return lin, np.fmin(np.clip(lin - half, 0, 1), shares), np.fmax(np.clip(lin + half, 0, 1), shares)
