"""Consistent post-processing: noised parts made to add up to their noised whole.

A cumulative-risk histogram (children with 0, 1, 2, 3+ risk factors) is released level by
level, each with its own noise, so the levels of a cell need not be non-negative or sum to
the cell's population. ``consistent_levels`` gives the nearest (least squares) vector that
is non-negative and sums to the population, the projection onto the scaled simplex (as the
Census TopDown post-processing does per geography). It is for display: totals over cells are
taken from the unclipped counts first and projected after (``tests/test_unbiased.py`` measures
the bias that leaves at gemeente level).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def consistent_levels(levels: Sequence[float], total: float) -> np.ndarray:
    """argmin ||x - levels||^2 subject to x >= 0 and sum(x) = max(total, 0) (Duchi et al. 2008)."""
    y = np.asarray(levels, dtype=float)
    t = max(float(total), 0.0)
    if len(y) == 0:
        return y
    if t == 0:
        return np.zeros_like(y)
    u = np.sort(y)[::-1]
    css = np.cumsum(u) - t
    k = np.arange(1, len(u) + 1)
    rho = int(np.nonzero(u - css / k > 0)[0][-1])
    theta = css[rho] / (rho + 1)
    return np.maximum(y - theta, 0.0)


def level_shares(counts: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Row by row: ``consistent_levels`` of each row of counts, as shares of its total (rows sum to 1,
    or are all NaN where the total is not positive)."""
    counts = np.asarray(counts, dtype=float)
    out = np.full(counts.shape, np.nan)
    for i, (row, total) in enumerate(zip(counts, np.asarray(totals, dtype=float))):
        if np.isfinite(total) and total > 0 and np.isfinite(row).all():
            out[i] = consistent_levels(row, total) / total
    return out
