"""Assembling the wijk index from noised releases: pure DP post-processing, no privacy cost.

Two kinds of count travel side by side. ``numerator_noisy`` / ``denominator_noisy`` are the
released counts as they are, unclipped: zero-mean noise on the truth, so sums of them are
unbiased, and every figure derived from several cells (gemeente rows, 0-17 totals, relative
risks, composite scores, small-area estimates) is computed from them. ``numerator`` /
``denominator`` / ``rate`` are for display: made non-negative, numerators at most their
denominator. Clipping first and summing after would add every small cell's cut-off negative
noise to the totals (about +6 per empty cell at the demo's scales). A cell whose noisy size
is below the publication threshold is suppressed; every rate carries a 90% margin of error
from the noise the nodes declared; the index compares each rate with the gemeente's (= 100).
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np
import pandas as pd

from wijkindex.estimators.smoothing import clip_interval, estimate_with_margin, standing
from wijkindex.privacy.noise import rate_moe
from wijkindex.protocol.messages import Cell
from wijkindex.vocabulary import POPULATION, Z90

INDEX_COLUMNS = ["period", "gemeente_code", "wijk_code", "wijk_name", "age_band", "indicator", "source",
                 "numerator", "denominator", "rate", "moe90", "suppressed", "index_vs_gemeente",
                 "numerator_moe90", "denominator_moe90", "rate_eb", "moe90_eb", "round_id",
                 "numerator_noisy", "denominator_noisy", "population", "area_code", "area_level", "uncertain"]
# a row's area_code is its wijk_code (the version-1 name, kept readable); area_level says what it is:
# "wijk"/"buurt", "gemeente" (a sum of its areas' unclipped cells) or "region" (a sum of its gemeenten)
MAX_AREA_MOE = 0.10  # a gemeente's or region's rate is shown only where its numerator's 90% noise margin is at most
# this share of its denominator (10 percentage points); wider, the row is "uncertain": its rate is not shown.
# Weighing the margin against the area's own (noisy) rate instead showed mostly the draws whose noise had
# raised that rate: +0.5 to +15 pp on 14 joint and rare rows (bench_validity); the rule reads no noisy numerator
SUBPOPULATION_MOE = 0.25  # a rate of a noised sub-population (children with a VVE indication) is published in
# an area only where that count's 90% noise margin is at most this share of the count the area is expected to
# have (its own population times the parent's share); below, the ratio's bias from its noisy denominator
# (about rate x CV^2) and a delta-method margin that ignores it made the wijk cells cover 66% (bench_validity)


class Scoping(Protocol):
    """What the assembly asks of a round spec: each indicator's denominator and published bands."""

    def denominator_of(self, indicator: str) -> str: ...

    def published_bands(self, indicator: str) -> tuple[Any, ...]: ...


@dataclass(frozen=True)
class NoisedRelease:
    """One released vector, already noised by the node that holds the data."""

    indicator: str
    source: str
    values: tuple[int, ...]
    scale: float
    variance: float
    moe90: float


@dataclass(frozen=True)
class IndexMeta:
    """The round's identity and areas. ``parents``: the rows that sum areas, as (code, name, level,
    area codes or None for every area): by default one gemeente row over every cell; a region
    round has one per gemeente and one for the region. A region round's ``gemeente_code`` is the
    region's code."""

    round_id: str
    period: int
    gemeente_code: str
    gemeente_name: str
    min_cell_size: int = 10
    max_area_moe: float = MAX_AREA_MOE
    parents: tuple[tuple[str, str, str, tuple[str, ...] | None], ...] = ()
    level: str = "wijk"

    def parent_rows(self) -> tuple[tuple[str, str, str, tuple[str, ...] | None], ...]:
        return self.parents or ((self.gemeente_code, self.gemeente_name, "gemeente", None),)

    def gemeente_of(self) -> dict[str, str]:
        """Each area's gemeente row code (areas of no listed gemeente: the round's code)."""
        out: dict[str, str] = {}
        for code, _, level, areas in self.parent_rows():
            if level == "gemeente" and areas is not None:
                out.update({a: code for a in areas})
        return out


def _validate(cells: Sequence[Cell], denominators: Mapping[str, NoisedRelease],
              numerators: Sequence[NoisedRelease]) -> None:
    if POPULATION not in denominators:
        raise ValueError(f"the denominators must hold the spine's {POPULATION!r} release")
    names = [n.indicator for n in numerators]
    if len(set(names)) != len(names):
        raise ValueError(f"indicators released twice: {sorted({n for n in names if names.count(n) > 1})}")
    for r in (*denominators.values(), *numerators):
        if len(r.values) != len(cells):
            raise ValueError(f"{r.source}/{r.indicator}: {len(r.values)} values for {len(cells)} cells")


def assemble_index(meta: IndexMeta, cells: Sequence[Cell], denominators: NoisedRelease | Mapping[str, NoisedRelease],
                   numerators: Sequence[NoisedRelease], orientation: Mapping[str, int] | None = None,
                   scope: Scoping | None = None) -> pd.DataFrame:
    """The index table from the noised releases. ``denominators`` are the population counts by
    name (or the spine's one ``population`` release); ``scope`` (the round spec) says which of
    them each indicator is a rate of and in which age bands it is published: cells outside an
    indicator's ages get no row. ``orientation`` (indicator -> +1 risk, -1 protective; an index
    definition's) names the indicators whose standing predicts the small-area estimates ``rate_eb``."""
    if isinstance(denominators, NoisedRelease):
        denominators = {denominators.indicator: denominators}
    _validate(cells, denominators, numerators)
    bands = list(dict.fromkeys(c.age_band for c in cells))
    band_of = np.array([bands.index(c.age_band) for c in cells])
    parents = meta.parent_rows()
    gemeente_of = meta.gemeente_of()
    area_codes = np.array([c.area_code for c in cells])
    in_parent = {code: np.ones(len(cells), bool) if members is None else np.isin(area_codes, list(members))
                 for code, _, _, members in parents}
    frames = []
    pool = {**denominators, **{n.indicator: n for n in numerators}}  # a sub-population is an indicator
    for rel in numerators:
        den_name = scope.denominator_of(rel.indicator) if scope else POPULATION
        if den_name not in pool:
            raise ValueError(f"{rel.indicator} is a rate of {den_name!r}, which no node released")
        denominator = pool[den_name]
        shown_bands = {b.label for b in scope.published_bands(rel.indicator)} if scope else set(bands)
        noisy_den = np.asarray(denominator.values, dtype=np.int64)
        den = np.maximum(noisy_den, 0)
        suppressed = noisy_den < meta.min_cell_size
        if scope is not None and den_name in {n.indicator for n in numerators}:  # a noised sub-population
            suppressed |= _subpopulation_too_noisy(noisy_den, denominator, pool.get(scope.denominator_of(den_name)),
                                                   in_parent, band_of, meta)
        noisy = np.asarray(rel.values, dtype=np.int64)
        num = np.minimum(np.maximum(noisy, 0), den)  # for display only
        rows = []
        for i, c in enumerate(cells):
            if c.age_band in shown_bands:
                rows.append((c.area_code, c.area_name, c.age_band, int(num[i]), int(den[i]), int(noisy[i]),
                             int(noisy_den[i]), rel.moe90, denominator.moe90, bool(suppressed[i]),
                             gemeente_of.get(c.area_code, meta.gemeente_code), meta.level))
        for code, name, level, members in parents:  # sums of the unclipped cells (unbiased)
            for b, band in enumerate(bands):
                if band not in shown_bands:
                    continue
                sel = (band_of == b) & (in_parent[code])
                k = int(sel.sum())
                n_sum, d_sum = int(noisy[sel].sum()), int(noisy_den[sel].sum())
                rows.append((code, name, band, min(max(n_sum, 0), max(d_sum, 0)),
                             max(d_sum, 0), n_sum, d_sum, Z90 * math.sqrt(k * rel.variance),
                             Z90 * math.sqrt(k * denominator.variance), d_sum < meta.min_cell_size, code, level))
        f = pd.DataFrame(rows, columns=["wijk_code", "wijk_name", "age_band", "numerator", "denominator",
                                        "numerator_noisy", "denominator_noisy", "numerator_moe90",
                                        "denominator_moe90", "suppressed", "gemeente_code", "area_level"])
        f["indicator"], f["source"], f["population"] = rel.indicator, rel.source, den_name
        frames.append(f)
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=INDEX_COLUMNS)
    is_gm = df["wijk_code"] == df["gemeente_code"]  # gemeente (and region) rows
    # the gemeente's rate is a ratio of unbiased sums; a wijk's shown rate is of its display counts
    raw_rate = df["numerator_noisy"] / df["denominator_noisy"].where(df["denominator_noisy"] > 0)
    df["rate_noisy"] = raw_rate
    df["rate"] = np.where(df["denominator"] > 0, df["numerator"] / df["denominator"].clip(lower=1), np.nan)
    df.loc[is_gm, "rate"] = raw_rate[is_gm]  # an estimate from many cells: unclipped (the report clips it to show)
    # a wijk's shown rate is the unclipped ratio clipped to [0, 1]; its margin is that of the unclipped
    # ratio's interval, clipped likewise (clip_interval), so the published interval is honest at 0
    df["moe90_raw"] = [rate_moe(n, d, mn, md) for n, d, mn, md in
                       zip(raw_rate.fillna(0) * df["denominator_noisy"], df["denominator_noisy"],
                           df["numerator_moe90"], df["denominator_moe90"])]
    ok = raw_rate.notna() & df["moe90_raw"].notna()
    df["moe90"] = np.nan
    df.loc[ok, "moe90"] = clip_interval(raw_rate[ok].to_numpy(float), df.loc[ok, "moe90_raw"].to_numpy(float))[1]
    df.loc[is_gm & ok, "moe90"] = df.loc[is_gm & ok, "moe90_raw"]
    gm = df[is_gm].set_index(["gemeente_code", "indicator", "age_band"])["rate_noisy"]
    ref = pd.Series([gm.get(k, np.nan) for k in zip(df["gemeente_code"], df["indicator"], df["age_band"])],
                    index=df.index)  # each area against its own gemeente
    df["index_vs_gemeente"] = (100 * df["rate"] / ref.where(ref > 0)).round(1)
    df.loc[is_gm, "index_vs_gemeente"] = np.where(ref[is_gm] > 0, 100.0, np.nan)
    # a gemeente or region rate the noise swamps is not shown (its noised counts stay for every sum):
    # decided on the known noise margin and the denominator, not on the noisy numerator, so showing a
    # row does not select the draws whose noise happened to favour it. Clipping such a rate to 0-1
    # for display biased it by up to +2.3 pp (joint and cumulative rates, bench_validity)
    margin = df["numerator_moe90"] / df["denominator_noisy"].where(df["denominator_noisy"] > 0)
    df["uncertain"] = is_gm & ~df["suppressed"].astype(bool) & ~(margin <= meta.max_area_moe)
    for col in ("numerator", "denominator", "rate", "moe90", "index_vs_gemeente"):
        df.loc[df["uncertain"], col] = np.nan
    hide = df["suppressed"]
    for col in ("numerator", "denominator", "rate", "moe90", "index_vs_gemeente", "numerator_noisy",
                "denominator_noisy", "rate_noisy", "moe90_raw"):
        df.loc[hide, col] = np.nan
    df["period"], df["round_id"], df["area_code"] = meta.period, meta.round_id, df["wijk_code"]
    df["rate_eb"], df["moe90_eb"] = np.nan, np.nan
    for code in dict.fromkeys(df["gemeente_code"]):  # each gemeente's wijken are smoothed towards it
        part = df[df["gemeente_code"] == code].copy()
        _smooth(part, code, orientation or {})
        df.loc[part.index, ["rate_eb", "moe90_eb"]] = part[["rate_eb", "moe90_eb"]]
    df = df[INDEX_COLUMNS]
    for col in ("numerator", "denominator", "numerator_noisy", "denominator_noisy"):
        df[col] = df[col].astype("Int64")
    df["suppressed"] = df["suppressed"].astype(bool)
    df["uncertain"] = df["uncertain"].astype(bool)
    for col in ("rate", "moe90", "index_vs_gemeente", "numerator_moe90", "denominator_moe90", "rate_eb", "moe90_eb"):
        df[col] = df[col].astype(float)
    return df


def _subpopulation_too_noisy(noisy_den: np.ndarray, denominator: NoisedRelease, base: NoisedRelease | None,
                             in_parent: Mapping[str, np.ndarray], band_of: np.ndarray, meta: IndexMeta) -> np.ndarray:
    """Cells where a sub-population's noise margin exceeds SUBPOPULATION_MOE of its expected size:
    the cell's ``base`` population (what the sub-population is a part of) times the share of the
    cell's gemeente and band. Decided on that expectation, not on the cell's own noisy count, so
    publishing a cell does not favour the draws whose noise enlarged it."""
    if base is None:
        return np.zeros(len(noisy_den), bool)
    base_vals = np.asarray(base.values, dtype=float)
    expected = np.zeros(len(noisy_den))
    for code, _, level, _members in meta.parent_rows():
        if level != "gemeente":  # a gemeente row's cells are its own (in_parent): its share is theirs
            continue
        mine = in_parent[code]
        for b in np.unique(band_of[mine]):
            sel = mine & (band_of == b)
            share = noisy_den[sel].sum() / base_vals[sel].sum() if base_vals[sel].sum() > 0 else 0.0
            expected[sel] = np.maximum(base_vals[sel], 0) * max(share, 0.0)
    return Z90 * math.sqrt(denominator.variance) > SUBPOPULATION_MOE * expected


def _smooth(df: pd.DataFrame, gemeente_code: str, orientation: Mapping[str, int]) -> None:
    """``rate_eb``/``moe90_eb``: per indicator and age band, small-area estimates of the wijken's
    rates (smoothing.estimate): Fay-Herriot on the wijk's standing on the other risk indicators
    where ``orientation`` gives some, else shrinkage towards the gemeente rate. The gemeente row
    keeps its direct rate."""
    df["rate_eb"], df["moe90_eb"] = df["rate"], df["moe90"]
    by_standing = standing(wijk_totals(df), orientation)
    wijk = (df["wijk_code"] != gemeente_code) & df["rate_noisy"].notna() & (df["moe90_raw"] > 0)
    gm = df[df["wijk_code"] == gemeente_code].set_index(["indicator", "age_band"])["rate_noisy"]
    for (ind, band), g in df[wijk].groupby(["indicator", "age_band"], sort=False):
        centre = gm.get((ind, band), np.nan)
        if not np.isfinite(centre):
            continue
        est, moe = estimate_with_margin(g["rate_noisy"].to_numpy(), (g["moe90_raw"].to_numpy() / Z90) ** 2,
                                        float(centre), by_standing.covariate(ind, g["wijk_code"]),
                                        g["denominator_noisy"].to_numpy(float),
                                        by_standing.covariate_variance(ind, g["wijk_code"]))
        df.loc[g.index, "rate_eb"] = est
        df.loc[g.index, "moe90_eb"] = moe


def wijk_totals(index: pd.DataFrame) -> pd.DataFrame:
    """Per wijk and indicator: the direct 0-17 rate over the age bands that are not suppressed
    (``rate_raw``, from the unclipped noised counts), its noise variance (``var``) and the
    gemeente's rate."""
    shown = index[~index["suppressed"].astype(bool)].copy()
    shown["num_var"] = (shown["numerator_moe90"] / Z90) ** 2
    shown["den_var"] = (shown["denominator_moe90"] / Z90) ** 2
    num, den = noisy_columns(shown)
    keys = ["wijk_code", "wijk_name", "indicator", "gemeente_code", *(["population"] if "population" in shown else [])]
    agg = shown.groupby(keys, sort=False).agg(
        numerator=(num, "sum"), denominator=(den, "sum"), num_var=("num_var", "sum"),
        den_var=("den_var", "sum")).reset_index()
    den = agg["denominator"].astype(float).where(agg["denominator"] > 0)
    agg["rate_raw"] = agg["numerator"].astype(float) / den
    gm = agg[agg["wijk_code"] == agg["gemeente_code"]].set_index(["gemeente_code", "indicator"])["rate_raw"]
    agg["gemeente_rate"] = [gm.get(k, np.nan) for k in zip(agg["gemeente_code"], agg["indicator"])]
    # noise variance of the direct rate (delta method, as rate_moe): the numerator's and the
    # denominator's; leaving the latter out made the margins of common indicators (sport 62%,
    # a stable school career 75%) a third too narrow
    agg["var"] = (agg["num_var"] + agg["rate_raw"].fillna(0) ** 2 * agg["den_var"]) / den ** 2
    return agg


def round_area(index: pd.DataFrame) -> str:
    """The code of the area a round's index covers: its region row's, else its gemeente's."""
    if "area_level" in index.columns and (index["area_level"] == "region").any():
        return str(index.loc[index["area_level"] == "region", "wijk_code"].iloc[0])
    return str(index["gemeente_code"].iloc[0])


def noisy_columns(index: pd.DataFrame) -> tuple[str, str]:
    """The columns a derived figure sums: the unclipped noised counts (an index written before
    they existed has only the display counts)."""
    if "numerator_noisy" in index.columns:
        return "numerator_noisy", "denominator_noisy"
    return "numerator", "denominator"


def _atomic_write(path: Path, write: Callable[[str], object]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_index(df: pd.DataFrame, out_dir: Path) -> tuple[Path, Path]:
    """index.csv and index.parquet, each written to a temp file and renamed into place."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, pq_path = out_dir / "index.csv", out_dir / "index.parquet"
    _atomic_write(csv_path, lambda p: df.to_csv(p, index=False, na_rep=""))
    _atomic_write(pq_path, lambda p: df.to_parquet(p, index=False, engine="pyarrow"))
    return csv_path, pq_path


def read_index(path: Path | str, *, reference: bool = False) -> pd.DataFrame:
    """An index written by ``write_index``; the published reference rows that write_tables appends
    (``reference_source`` set) are left out unless ``reference=True``."""
    path = Path(path)
    if path.suffix == ".parquet":
        df = pd.read_parquet(path)
    else:
        df = pd.read_csv(path, dtype={"wijk_code": str, "age_band": str, "reference_source": str})
        for col in ("numerator", "denominator", "numerator_noisy", "denominator_noisy"):
            if col in df.columns:
                df[col] = df[col].astype("Int64")
    if not reference and "reference_source" in df.columns:
        df = df[df["reference_source"].fillna("").astype(str).eq("")].reset_index(drop=True)
    return df


def compare_with_truth(index: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Join the index with the evaluation truth and add absolute errors (tests, benchmarks)."""
    keys = ["wijk_code", "age_band", "indicator"]
    t = truth[[*keys, "numerator", "denominator", "rate"]]
    out = index.merge(t, on=keys, suffixes=("", "_true"), how="left")
    for col in ("numerator", "denominator", "rate"):
        out[f"{col}_abs_error"] = (out[col].astype(float) - out[f"{col}_true"].astype(float)).abs()
    if "rate_eb" in out.columns:
        out["rate_eb_abs_error"] = (out["rate_eb"].astype(float) - out["rate_true"].astype(float)).abs()
    return out
