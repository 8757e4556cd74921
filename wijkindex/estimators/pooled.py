"""Figures for a set of gemeenten from their own rounds: the country, a region, a gemeente's peers.

Where the aggregator holds completed rounds of many gemeenten for one period, a region's (or
the country's) figure per indicator and age band is the sum of the gemeenten's unclipped
noised counts, numerator and denominator alike: unbiased, since every gemeente's noise has
mean zero, and with a margin that adds the gemeenten's noise variances (each gemeente row's
``moe90`` is already that of its own sum). Nothing is re-noised and no budget is spent: this
is post-processing of released counts. A member gemeente without a released figure (no
completed round of the period, or not that indicator and age band) is missing from the sum; one
whose gemeente row was suppressed (its noisy denominator under the round's threshold, so its
counts were not published) is left out too. Each row says how many gemeenten it sums, of how
many members, and names the ones it lacks: a figure is never passed off as covering more.

``comparisons`` gives, for the gemeenten of one round, the areas they are compared with
(``reference.comparison_areas``: the country NL01, the shipped GGD region and jeugdzorgregio,
the peers VG…), each pooled from the gemeente rows of every completed round of the period. The
aggregator computes them (``aggregator/pooling.py``, the Results.GetPooled call); ``with_pooled``
appends them to index.csv with ``reference_source`` = "federation".
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np
import pandas as pd

from wijkindex.estimators.index import noisy_columns, round_area
from wijkindex.estimators.smoothing import clip_interval
from wijkindex.privacy.noise import rate_moe

if TYPE_CHECKING:
    from wijkindex.geography.regions import Region

FEDERATION = "federation"  # reference_source of the pooled rows in index.csv (CBS rows name their measure)
POOLED_COLUMNS = ["period", "area_code", "area_name", "area_level", "indicator", "age_band", "population",
                  "numerator_noisy", "denominator_noisy", "numerator_moe90", "denominator_moe90", "rate",
                  "moe90", "n_gemeenten", "n_members", "gemeenten_covered", "gemeenten_missing",
                  "gemeenten_suppressed", "compared_with"]
# what index.csv carries of them besides the usual columns (empty on every other row)
INDEX_EXTRA = ["n_gemeenten", "n_members", "gemeenten_covered", "gemeenten_missing", "gemeenten_suppressed",
               "compared_with"]
LEVEL_ORDER = ("land", "ggd", "jeugdzorgregio", "region", "vergelijkbaar")


def gemeente_rows(index: pd.DataFrame) -> pd.DataFrame:
    """The gemeente rows of a round's index (a region round has several)."""
    if "area_level" in index.columns:
        return index[index["area_level"] == "gemeente"]
    return index[index["wijk_code"] == index["gemeente_code"]]


def _codes(values: Iterable[str]) -> str:
    return ", ".join(sorted(values))


def pooled_rows(indices: Iterable[pd.DataFrame], code: str, name: str, level: str,
                members: Sequence[str] | None = None, compared_with: Sequence[str] = ()) -> pd.DataFrame:
    """One row per period, indicator and age band for the gemeenten of ``members`` (all if
    None) found in ``indices``: the sums of their unclipped noised counts, the rate of the sums
    and its 90% margin. A gemeente found twice for a period (two rounds) counts once: its latest
    round (the last index given). A suppressed gemeente row is not summed; it is named in
    ``gemeenten_suppressed``, a member without a row in ``gemeenten_missing``."""
    frames = [gemeente_rows(ix) for ix in indices]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if rows.empty:
        return pd.DataFrame(columns=POOLED_COLUMNS)
    code_col = "area_code" if "area_code" in rows.columns else "wijk_code"
    rows = rows.drop_duplicates(subset=["period", code_col, "indicator", "age_band"], keep="last")
    if members is not None:
        rows = rows[rows[code_col].isin(list(members))]
    if rows.empty:
        return pd.DataFrame(columns=POOLED_COLUMNS)
    num, den = noisy_columns(rows)
    n, d = (pd.to_numeric(rows[c], errors="coerce").astype(float) for c in (num, den))
    shown = n.notna() & d.notna()
    if "suppressed" in rows.columns:
        shown &= ~rows["suppressed"].fillna(False).astype(bool)
    rows = rows.assign(_n=n.where(shown, 0.0), _d=d.where(shown, 0.0),
                       _nv=(rows["numerator_moe90"].astype(float) ** 2).where(shown, 0.0),
                       _dv=(rows["denominator_moe90"].astype(float) ** 2).where(shown, 0.0),
                       _shown=shown, _code=rows[code_col].astype(str))
    keys = ["period", "indicator", "age_band", "population"] if "population" in rows.columns else \
        ["period", "indicator", "age_band"]
    sums = rows.groupby(keys, sort=False, dropna=False).agg(
        n=("_n", "sum"), d=("_d", "sum"), nv=("_nv", "sum"), dv=("_dv", "sum"), k=("_shown", "sum"))
    codes = rows.groupby(keys, sort=False, dropna=False).apply(
        lambda g: (sorted(g.loc[g["_shown"], "_code"]), sorted(g.loc[~g["_shown"], "_code"])), include_groups=False)
    out = []
    member_set = set(members) if members is not None else None
    for key, s in sums.iterrows():
        covered, suppressed = codes.loc[key]
        k = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        n_sum, d_sum = (float(s["n"]), float(s["d"])) if covered else (math.nan, math.nan)
        n_moe, d_moe = (math.sqrt(s["nv"]), math.sqrt(s["dv"])) if covered else (math.nan, math.nan)
        rate = moe = math.nan
        if covered and d_sum > 0:
            rate = n_sum / d_sum
            raw = rate_moe(n_sum, d_sum, n_moe, d_moe)
            if np.isfinite(raw):
                moe = float(clip_interval(np.array([rate]), np.array([raw]))[1][0])
            rate = min(max(rate, 0.0), 1.0)
        missing = sorted(member_set - set(covered) - set(suppressed)) if member_set is not None else []
        out.append({**k, "area_code": code, "area_name": name, "area_level": level, "numerator_noisy": n_sum,
                    "denominator_noisy": d_sum, "numerator_moe90": n_moe, "denominator_moe90": d_moe,
                    "rate": rate, "moe90": moe, "n_gemeenten": len(covered),
                    "n_members": len(member_set) if member_set is not None else len(covered) + len(suppressed),
                    "gemeenten_covered": _codes(covered), "gemeenten_missing": _codes(missing),
                    "gemeenten_suppressed": _codes(suppressed), "compared_with": _codes(compared_with)})
    frame = pd.DataFrame(out)
    for col in POOLED_COLUMNS:
        if col not in frame.columns:
            frame[col] = np.nan
    return frame[POOLED_COLUMNS]


def comparisons(indices: Sequence[pd.DataFrame], gemeenten: Iterable[str],
                user_regions: Sequence["Region"] = ()) -> pd.DataFrame:
    """The federation's figures for the areas each of ``gemeenten`` (a round's gemeenten) is
    compared with: the country, its GGD region and jeugdzorgregio, any of ``user_regions`` it is
    in (area level "region"), its peers, each the pooled
    gemeente rows of ``indices`` (every completed round of the period, the latest last). Only
    CBS 2024 gemeenten have these areas. A row that sums no gemeente but the one it is compared
    with (the country while only that gemeente has a round) compares it with itself and is left
    out; every other row is kept with its coverage."""
    from wijkindex.estimators.reference import comparison_areas, is_cbs_gemeente

    areas: dict[str, tuple[str, str, tuple[str, ...], list[str]]] = {}
    for gm in dict.fromkeys(str(g) for g in gemeenten):
        if not is_cbs_gemeente(gm):
            continue
        for code, name, level, members in comparison_areas(gm, user_regions):
            if level in LEVEL_ORDER:
                areas.setdefault(code, (name, level, members, []))[3].append(gm)
    rows = [gemeente_rows(ix) for ix in indices]
    frames = [pooled_rows(rows, code, name, level, members, compared_with=with_)
              for code, (name, level, members, with_) in areas.items()]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=POOLED_COLUMNS)
    out = pd.concat(frames, ignore_index=True)
    covered = out["gemeenten_covered"].map(lambda s: set(filter(None, str(s).split(", "))))
    against = out["compared_with"].map(lambda s: str(s).split(", "))
    useful = [any(c - {g} for g in w) for c, w in zip(covered, against)]
    out = out[useful]
    order = {lvl: i for i, lvl in enumerate(LEVEL_ORDER)}
    out = out.sort_values(["area_level", "area_code"], key=lambda s: s.map(order) if s.name == "area_level" else s,
                          kind="stable")
    return out.reset_index(drop=True)[POOLED_COLUMNS]


def with_pooled(table: pd.DataFrame, pooled: pd.DataFrame | None) -> pd.DataFrame:
    """index.csv's table (``reference.with_reference``'s) with the pooled rows appended:
    ``wijk_code``/``area_code`` the area's code (NL01, GG…, JZ…, VG…), ``source`` "referentie" and
    ``reference_source`` "federation" (so ``read_index`` leaves them out, as it leaves the CBS
    rows), counts, margins, rate and age band as the pooled row has them, and the coverage
    (INDEX_EXTRA). The columns are there (empty) when nothing is pooled."""
    from wijkindex.estimators.reference import append_rows

    out = table.copy()
    out["n_gemeenten"] = pd.array([pd.NA] * len(out), dtype="Int64")
    out["n_members"] = pd.array([pd.NA] * len(out), dtype="Int64")
    for col in INDEX_EXTRA[2:]:
        out[col] = ""
    if pooled is None or pooled.empty or table.empty:
        return out
    first = table.iloc[0]
    own = table[table["reference_source"].fillna("").astype(str).eq("")] if "reference_source" in table else table
    n = pooled["numerator_noisy"].astype(float)
    d = pooled["denominator_noisy"].astype(float)
    ref = pd.DataFrame({
        "period": pooled["period"].to_numpy(), "gemeente_code": round_area(own),  # the round's area
        "wijk_code": pooled["area_code"].to_numpy(), "wijk_name": pooled["area_name"].to_numpy(),
        "area_code": pooled["area_code"].to_numpy(), "area_level": pooled["area_level"].to_numpy(),
        "age_band": pooled["age_band"].to_numpy(), "indicator": pooled["indicator"].to_numpy(),
        "source": "referentie", "population": pooled["population"].to_numpy(),
        "numerator_noisy": n.round().to_numpy(), "denominator_noisy": d.round().to_numpy(),
        "numerator": np.minimum(n.clip(lower=0), d.clip(lower=0)).round().to_numpy(),
        "denominator": d.clip(lower=0).round().to_numpy(),
        "numerator_moe90": pooled["numerator_moe90"].astype(float).to_numpy(),
        "denominator_moe90": pooled["denominator_moe90"].astype(float).to_numpy(),
        "rate": pooled["rate"].astype(float).to_numpy(), "moe90": pooled["moe90"].astype(float).to_numpy(),
        "suppressed": False, "round_id": first.get("round_id"), "reference_source": FEDERATION,
        **{col: pooled[col].to_numpy() for col in INDEX_EXTRA},
    })
    return append_rows(out, ref, table.attrs)

