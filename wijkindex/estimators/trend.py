"""Year-on-year change: this year's rate minus last year's, with a 90% interval.

Each year's figures carry their own independent noise. Rates are taken from the unclipped
noised counts (clipped counts would bias small wijken's rates upwards, and their changes with
them), over the age bands published in both years, so a change never compares different
groups of children. The interval comes from the noise variances both years' nodes declared:
the variance of a difference of independent noises is the sum of their variances.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wijkindex.estimators.index import noisy_columns
from wijkindex.vocabulary import Z90

KEYS = ["wijk_code", "wijk_name", "indicator"]


def period_rates(history: pd.DataFrame, bands: pd.DataFrame | None = None, *, by_band: bool = False) -> pd.DataFrame:
    """Per period, area and indicator (and age band, ``by_band``): the 0-17 rate over the
    non-suppressed bands (or the (period, wijk_code, indicator, age_band) rows of ``bands``), its
    noise variance and 90% margin."""
    keys = [*KEYS, "age_band"] if by_band else KEYS
    rows = history[~history["suppressed"].astype(bool)].copy()
    if bands is not None:
        rows = rows.merge(bands, on=list(bands.columns))
    rows["num_var"] = (rows["numerator_moe90"].astype(float) / Z90) ** 2
    rows["den_var"] = (rows["denominator_moe90"].astype(float) / Z90) ** 2
    num, den = noisy_columns(rows)
    g = rows.groupby(["period", *keys], sort=False).agg(
        num=(num, "sum"), den=(den, "sum"), num_var=("num_var", "sum"), den_var=("den_var", "sum")).reset_index()
    d = g["den"].astype(float).where(g["den"] > 0)
    g["rate"] = g["num"].astype(float) / d
    g["var"] = (g["num_var"] + g["rate"] ** 2 * g["den_var"]) / d ** 2  # delta method, independent noises
    g["moe90"] = Z90 * np.sqrt(g["var"])
    return g


def _shared_bands(history: pd.DataFrame, before: int, after: int) -> pd.DataFrame:
    """The (wijk, indicator, band) cells published in both periods."""
    shown = history[~history["suppressed"].astype(bool) & history["period"].isin([before, after])]
    both = shown.groupby(["wijk_code", "indicator", "age_band"])["period"].nunique()
    cells = both[both == 2].reset_index()[["wijk_code", "indicator", "age_band"]]
    return pd.concat([cells.assign(period=p) for p in (before, after)], ignore_index=True)


def year_on_year(history: pd.DataFrame, *, by_band: bool = False) -> pd.DataFrame:
    """Per pair of consecutive periods, area and indicator (and age band, ``by_band``): ``change``
    (rate this year minus last year, 0-17 over the bands shown in both, or the band's) and its 90%
    interval ``change_low90``/``change_high90``."""
    keys = [*KEYS, "age_band"] if by_band else KEYS
    periods = sorted(int(p) for p in history["period"].unique())
    frames = []
    for before, after in zip(periods, periods[1:]):
        r = period_rates(history, _shared_bands(history, before, after), by_band=by_band).set_index(["period", *keys])
        a, b = r.loc[after], r.loc[before]
        both = a.index.intersection(b.index)
        a, b = a.loc[both], b.loc[both]
        half = Z90 * np.sqrt(a["var"] + b["var"])
        frames.append(pd.DataFrame({
            "period": after, "previous_period": before, "rate": a["rate"], "previous_rate": b["rate"],
            "change": a["rate"] - b["rate"], "change_moe90": half,
            "change_low90": a["rate"] - b["rate"] - half, "change_high90": a["rate"] - b["rate"] + half,
        }).reset_index())
    cols = ["period", "previous_period", *keys, "rate", "previous_rate", "change", "change_moe90",
            "change_low90", "change_high90"]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


def pooled_as_history(pooled: pd.DataFrame) -> pd.DataFrame:
    """The federation's pooled rows (estimators/pooled.py, one per period, area, indicator and band)
    in the history's form, the area's code as ``wijk_code``, so that ``year_on_year`` takes them."""
    return pd.DataFrame({
        "period": pooled["period"].astype(int), "wijk_code": pooled["area_code"], "wijk_name": pooled["area_name"],
        "indicator": pooled["indicator"], "age_band": pooled["age_band"],
        "numerator_noisy": pooled["numerator_noisy"].astype(float),
        "denominator_noisy": pooled["denominator_noisy"].astype(float),
        "numerator_moe90": pooled["numerator_moe90"].astype(float),
        "denominator_moe90": pooled["denominator_moe90"].astype(float),
        "suppressed": False, "covered": pooled["gemeenten_covered"].fillna("").astype(str)})


def pooled_changes(pooled_history: pd.DataFrame, *, by_band: bool = False) -> pd.DataFrame:
    """Year-on-year change of each pooled area (the country, a region, the peers), as ``year_on_year``
    computes it, where both years pool the same gemeenten; ``comparable`` is False, and the change
    left out, where they do not (a figure over other gemeenten is not a change)."""
    h = pooled_as_history(pooled_history)
    ch = year_on_year(h, by_band=by_band)
    if ch.empty:
        return ch.assign(comparable=pd.Series(dtype=bool))
    covered = h.groupby(["period", "wijk_code", "indicator"])["covered"].agg(lambda s: frozenset(s))
    same = [covered.get((p, c, i)) == covered.get((q, c, i))
            for p, q, c, i in zip(ch["period"], ch["previous_period"], ch["wijk_code"], ch["indicator"])]
    ch["comparable"] = same
    for col in ("change", "change_moe90", "change_low90", "change_high90"):
        ch[col] = ch[col].where(ch["comparable"])
    return ch
