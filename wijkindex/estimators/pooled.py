"""Figures for a set of gemeenten from their own rounds: a region, or the country.

Where the aggregator holds completed rounds of many gemeenten for one period, a region's (or
the country's) figure per indicator and age band is the sum of the gemeenten's unclipped
noised counts, numerator and denominator alike: unbiased, since every gemeente's noise has
mean zero, and with a margin that adds the gemeenten's noise variances (each gemeente row's
``moe90`` is already that of its own sum). Nothing is re-noised and no budget is spent: this
is post-processing of released counts. A gemeente without a round for the period is missing
from the sum, and the row says how many gemeenten it covers and which are missing.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from wijkindex.estimators.index import noisy_columns
from wijkindex.estimators.smoothing import clip_interval
from wijkindex.privacy.noise import rate_moe

POOLED_COLUMNS = ["period", "area_code", "area_name", "area_level", "indicator", "age_band", "population",
                  "numerator_noisy", "denominator_noisy", "numerator_moe90", "denominator_moe90", "rate",
                  "moe90", "gemeenten", "missing"]


def gemeente_rows(index: pd.DataFrame) -> pd.DataFrame:
    """The gemeente rows of a round's index (a region round has several)."""
    if "area_level" in index.columns:
        return index[index["area_level"] == "gemeente"]
    return index[index["wijk_code"] == index["gemeente_code"]]


def pooled_rows(indices: Iterable[pd.DataFrame], code: str, name: str, level: str,
                members: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per period, indicator and age band for the gemeenten of ``members`` (all if
    None) found in ``indices``: the sums of their unclipped noised counts, the rate of the sums
    and its 90% margin. A gemeente found twice for a period (two rounds) counts once: its latest
    round (the last index given)."""
    frames = [gemeente_rows(ix) for ix in indices]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if rows.empty:
        return pd.DataFrame(columns=POOLED_COLUMNS)
    code_col = "area_code" if "area_code" in rows.columns else "wijk_code"
    rows = rows.drop_duplicates(subset=["period", code_col, "indicator", "age_band"], keep="last")
    if members is not None:
        rows = rows[rows[code_col].isin(list(members))]
    num, den = noisy_columns(rows)
    rows = rows.assign(_nv=rows["numerator_moe90"].astype(float) ** 2, _dv=rows["denominator_moe90"].astype(float) ** 2,
                       _n=rows[num].astype(float), _d=rows[den].astype(float))
    keys = ["period", "indicator", "age_band", "population"] if "population" in rows.columns else \
        ["period", "indicator", "age_band"]
    out = []
    for key, g in rows.groupby(keys, sort=False, dropna=False):
        k = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        if g["_n"].isna().any() or g["_d"].isna().any():  # a gemeente's row was suppressed: no honest sum
            n = d = rate = moe = math.nan
        else:
            n, d = float(g["_n"].sum()), float(g["_d"].sum())
            rate = n / d if d > 0 else math.nan
            raw = rate_moe(n, d, math.sqrt(g["_nv"].sum()), math.sqrt(g["_dv"].sum())) if d > 0 else math.nan
            moe = float(clip_interval(np.array([rate]), np.array([raw]))[1][0]) if np.isfinite(raw) else math.nan
            rate = min(max(rate, 0.0), 1.0) if np.isfinite(rate) else rate
        found = sorted(g[code_col].astype(str))
        missing = sorted(set(members or ()) - set(found))
        out.append({**k, "area_code": code, "area_name": name, "area_level": level, "numerator_noisy": n,
                    "denominator_noisy": d, "numerator_moe90": math.sqrt(g["_nv"].sum()),
                    "denominator_moe90": math.sqrt(g["_dv"].sum()), "rate": rate, "moe90": moe,
                    "gemeenten": len(found), "missing": ", ".join(missing)})
    frame = pd.DataFrame(out)
    for col in POOLED_COLUMNS:
        if col not in frame.columns:
            frame[col] = np.nan
    return frame[POOLED_COLUMNS]

