"""Validity of every published estimator: bias, RMSE and 90%-interval coverage over re-noised draws.

Generates the Zwolle-size synthetic federation (``--scale 1.0``) and its evaluation truth, builds
the round's spec (every holder's indicators, the joint and cumulative-risk indicators, epsilon
``--epsilon`` per node) and re-noises the truth ``--draws`` times with that spec's own noise
scales (``RoundSpec.noise_plan``), building the NoisedRelease vectors exactly as the aggregator's
``RoundManager.assemble`` does: marginal vectors and the population at their node's marginal
scale and OpenDP margin, a joint vector with one noise share per node of its chain, the
cumulative-risk top level summing the noised slots cap, cap+1, ... . Each draw then goes through
the real post-processing: ``assemble_index``, ``wijk_totals``, ``relative_risks`` and
``composite_scores``; the gemeente's cumulative-risk shares are the unclipped sums made
consistent with ``consistent_levels``. Noise is the discrete Laplace OpenDP's ``make_laplace``
draws on integers (the difference of two geometrics), drawn with numpy for speed.

Per estimator it prints the mean signed error (bias) with its Monte Carlo standard error, the
worst cell's bias, the RMSE and the coverage of its 90% interval (MC standard error from the
spread of the per-draw coverage, so correlation between cells of one draw is accounted for),
each next to its target:
- |bias| of every gemeente-level rate <= 0.1 percentage point, or not told from zero by the draws
  (within the Bonferroni bound of its table's rows: about 3.3 MC SE for 61 rows; ``bias_z``),
- coverage of every interval kind between 88% and 92%,
- gemeente-level relative risks within 10% of the truth on average.
Suppressed cells (noised population below the round's min_cell_size) are left out of the
wijk-level figures and counted. Cumulative-risk shares (``cumulative_shares``, per area and
TopDown, and the unweighted projection used before) get their own table: bias per level and
band at gemeente and wijk level, and coverage of their 90% interval. ``--trend`` generates a
second year and measures the year-on-year change (``trend.year_on_year``): last year re-noised
with its marginal round's scales, this year with the full round's, change and 90% interval
against the true change (smoothing is skipped there: the change does not read it).

``--demo-round`` runs the real demo round once (loopback gRPC and TLS, Paillier, OpenDP noise)
and measures its index against its truth with the same estimators.

Run:  .venv/bin/python bench/bench_validity.py [--draws 200] [--scale 1.0] [--epsilon 1.0] [--seed 2014] [--trend]
      [--demo-round]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import tempfile
import time
from unittest import mock
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import truth_as_index  # noqa: E402  (the truth in the index's shape)

from wijkindex.estimators.composite import (TOTAL, IndexDefinition, composite_scores, score_of,  # noqa: E402
                                            wijk_indices)
from wijkindex.estimators.consistency import METHODS, cumulative_shares, project_rows  # noqa: E402
from wijkindex.estimators.index import (IndexMeta, NoisedRelease, assemble_index,  # noqa: E402
                                        wijk_totals)
from wijkindex.vocabulary import POPULATION, TOTAL_BAND, Z90  # noqa: E402
from wijkindex.estimators.relative_risk import METHODS as RR_METHODS, load_relative_risks, relative_risks  # noqa: E402
from wijkindex.estimators.trend import year_on_year  # noqa: E402
from wijkindex.federation import round_spec  # noqa: E402
from wijkindex.geography import load_zwolle  # noqa: E402
from wijkindex.protocol import messages as m  # noqa: E402
from wijkindex.protocol.spec import RoundSpec  # noqa: E402
from wijkindex.synth.generator import generate_federation  # noqa: E402

console = Console(width=max(Console().width, 200))  # the table is wide; piped output too
BIAS_PP = 0.1  # target: |bias| of a gemeente-level rate, percentage points
FAMILY_ALPHA = 0.05  # a row's bias is told from chance at this level for its whole table (Bonferroni)


def bias_z(n_rows: int) -> float:
    """How many MC SE a row's mean error may be from zero before it counts as bias: the two-sided
    Bonferroni bound for ``n_rows`` rows at FAMILY_ALPHA. With 61 unbiased rows and a fixed 2 SE,
    about three rows exceed it by chance alone and the target could not be met even by an exact
    estimator; Bonferroni keeps the chance of a false alarm per table at 5%."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(1 - FAMILY_ALPHA / (2 * max(n_rows, 1)))


def off_target(b: np.ndarray, se: np.ndarray) -> np.ndarray:
    """Rows whose mean error is above BIAS_PP and beyond chance (bias_z over the finite rows)."""
    fin = np.isfinite(b)
    return fin & (np.abs(b) > BIAS_PP) & (np.abs(b) > bias_z(int(fin.sum())) * se)
COVERAGE = (0.88, 0.92)
RR_REL = 0.10


# ---- the round's vectors, as RoundManager.assemble builds them ------------------------------------

@dataclass
class Vector:
    indicator: str
    source: str
    truth: np.ndarray              # true counts per cell
    shares: list[float]            # scales of the discrete-Laplace noises summed into each value
    scale: float
    variance: float
    moe90: float


def round_vectors(spec: RoundSpec, cells: list[m.Cell], truth: pd.DataFrame) -> tuple[dict[str, Vector], list[Vector]]:
    """The population vectors by name and the numerator vectors (in the aggregator's order) with
    their noise. A cell outside an indicator's ages has no truth row: its count is 0 here (it is
    released, noised, and never published)."""
    keys = pd.MultiIndex.from_tuples([(c.area_code, c.age_band) for c in cells])
    at = truth.set_index(["indicator", "wijk_code", "age_band"])

    def counts(indicator: str, column: str = "numerator") -> np.ndarray:
        if indicator not in at.index.get_level_values(0):
            raise SystemExit(f"the truth lacks {indicator}")
        return at.loc[indicator][column].reindex(keys).fillna(0).to_numpy(dtype=np.int64)

    plans = {p: spec.noise_plan(p) for p in spec.parties}
    nums: list[Vector] = []
    for node in spec.nodes:  # marginal vectors: the node's marginal scale and OpenDP margin
        mp = plans[node.party].marginal
        nums += [Vector(ind, node.party, counts(ind), [mp.scale], mp.scale, mp.variance, mp.moe(0.10))
                 for ind in node.indicators]
    populations = {}
    for node in spec.nodes:  # each population count at its holder's marginal scale, from the truth's denominators
        mp = plans[node.party].marginal
        for r in spec.releases(node.party):
            if r.name.startswith(POPULATION):
                rate_of = (spec.node(spec.spine).indicators[0] if r.name == POPULATION else
                           next(i for n in spec.nodes for i in n.indicators if spec.denominator_of(i) == r.name))
                populations[r.name] = Vector(r.name, node.party, counts(rate_of, "denominator"), [mp.scale],
                                             mp.scale, mp.variance, mp.moe(0.10))
    for joint in spec.joint:  # a joint count carries a noise share of every node of its chain
        chain = spec.chain(joint)
        variance = sum(plans[p].joint.variance for p in chain)
        levels = spec.levels(joint)
        scale = plans[chain[-1]].joint.scale  # the releasing node's (as in assemble: plan of the release)
        for k, name in enumerate(joint.level_names()):
            merged = max(1, levels - joint.cap) if joint.kind == "count" and k == joint.cap else 1
            shares = [plans[p].joint.scale for _ in range(merged) for p in chain]
            var = variance * merged
            nums.append(Vector(name, "+".join(chain), counts(name), shares, scale, var, Z90 * math.sqrt(var)))
    return populations, nums


def noised(v: Vector, rng: np.random.Generator) -> NoisedRelease:
    noise = np.zeros(len(v.truth), dtype=np.int64)
    for s in v.shares:  # discrete Laplace of scale s: the difference of two geometrics
        p = 1 - math.exp(-1 / s)
        noise += rng.geometric(p, len(v.truth)) - rng.geometric(p, len(v.truth))
    return NoisedRelease(v.indicator, v.source, tuple(int(x) for x in v.truth + noise), v.scale, v.variance, v.moe90)


# ---- the truth of every derived figure ----------------------------------------------------------

def true_relative_risks(truth: pd.DataFrame, defs) -> pd.Series:
    """The RR of the truth's 2x2 table per (wijk or gemeente, band or 0-17, definition), built as
    relative_risk.py builds it from the noised counts."""
    at = truth.set_index(["indicator", "wijk_code", "age_band"])
    out = {}
    for d in defs:
        e_, o_, j_ = at.loc[d.exposure], at.loc[d.outcome], at.loc[d.joint]
        parts = pd.DataFrame({"e": e_["numerator"], "n": e_["denominator"], "o": o_["numerator"],
                              "a": j_["numerator"]}).astype(float)
        parts["u"], parts["b"] = parts["n"] - parts["e"], parts["o"] - parts["a"]
        tot = parts.groupby(level="wijk_code").sum()
        for frame, band in ((parts, None), (tot, TOTAL_BAND)):
            for key, r in frame.iterrows():
                wijk, b = (key, band) if band else key
                ok = min(r["a"], r["e"], r["b"], r["u"]) > 0
                out[(wijk, b, d.name)] = (r["a"] / r["e"]) / (r["b"] / r["u"]) if ok else math.nan
    return pd.Series(out)


def true_cumulative_shares(truth: pd.DataFrame, cumulative, bands) -> pd.Series:
    """The truth's cumulative-risk share per (wijk or gemeente, band or 0-17, level)."""
    names = [n for j in cumulative for n in j.level_names()]
    t = truth[truth["indicator"].isin(names)]
    per_band = t.set_index(["wijk_code", "age_band", "indicator"])["rate"]
    tot = t.groupby(["wijk_code", "indicator"])[["numerator", "denominator"]].sum()
    tot = (tot["numerator"] / tot["denominator"]).rename("rate").reset_index().assign(age_band=TOTAL_BAND)
    return pd.concat([per_band, tot.set_index(["wijk_code", "age_band", "indicator"])["rate"]]).sort_index()


def draw_cumulative_shares(idx: pd.DataFrame, cumulative, bands, method: str, partial: set,
                           per_area: pd.DataFrame | None = None) -> pd.DataFrame:
    """One draw's cumulative-risk shares per band and 0-17 (wijken with a suppressed band left out of
    0-17), keyed (area, band, level). ``equal``: the unweighted projection used before (from ``per_area``'s counts)."""
    if method == "equal" and per_area is not None:
        return pd.concat(_equal_shares(g.reset_index(), list(g.index.get_level_values(2).unique())).assign(age_band=band)
                         for band, g in per_area.groupby(level=1, sort=False)).set_index(
                             ["wijk_code", "age_band", "indicator"])
    frames = []
    for j in cumulative:
        levels = list(j.level_names())
        for band in [*(b.label for b in bands), TOTAL_BAND]:
            sub = idx if band == TOTAL_BAND else idx[idx["age_band"] == band]
            f = cumulative_shares(sub, levels, "per-area" if method == "equal" else method)
            if method == "equal":
                f = _equal_shares(f, levels)
            if band == TOTAL_BAND:
                f = f[~f["wijk_code"].isin(partial)]
            frames.append(f.assign(age_band=band))
    return pd.concat(frames).set_index(["wijk_code", "age_band", "indicator"])


def _equal_shares(f: pd.DataFrame, levels: list[str]) -> pd.DataFrame:
    """The shares of the unweighted projection (before: every level took an equal part of the discrepancy)."""
    num = f.set_index(["wijk_code", "indicator"])["num"].unstack("indicator")[levels]
    den = f.groupby("wijk_code")["den"].max().reindex(num.index).to_numpy()
    ok = (den > 0) & np.isfinite(num.to_numpy()).all(axis=1)
    x = np.full(num.shape, np.nan)
    x[ok] = project_rows(num.to_numpy()[ok], den[ok], np.ones((int(ok.sum()), len(levels)))) / den[ok, None]
    share = pd.DataFrame(x, index=num.index, columns=pd.Index(levels, name="indicator")).stack().rename("share")
    return f.drop(columns="share").merge(share.reset_index(), on=["wijk_code", "indicator"], how="left")


def cumulative_table(cums: dict, gm: str) -> Table:
    """Bias (± MC SE) per level and band, gemeente and wijken pooled, for each projection; coverage of the 90% interval."""
    meths = list(cums)
    t = Table(title="cumulative-risk shares: bias per level and band (pp, ± MC SE), RMSE and 90%-interval coverage "
                    "(published: 0-17; target |bias| <= 0.1 pp or 2 SE at gemeente level, coverage 88-92%)")
    t.add_column("area")
    t.add_column("band")
    t.add_column("level")
    for meth in meths:
        t.add_column(f"bias {meth}", justify="right")
    t.add_column(f"RMSE {METHODS[0]}", justify="right")
    for meth in METHODS:
        t.add_column(f"coverage {meth}", justify="right")
    keys = cums[meths[0]].keys
    areas = np.where(keys.get_level_values(0) == gm, "gemeente", "wijk")
    for area in ("gemeente", "wijk"):
        for band in dict.fromkeys(keys.get_level_values(1)):
            for level in dict.fromkeys(keys.get_level_values(2)):
                sel = (areas == area) & (keys.get_level_values(1) == band) & (keys.get_level_values(2) == level)
                stats = {m_: summarise(_take(cums[m_], sel), 100) for m_ in meths}
                flag = lambda s: "" if area == "wijk" or abs(s["bias"]) <= BIAS_PP or abs(s["bias"]) <= 2 * s["bias_se"] else " [red]!"
                t.add_row(area, band, level.rsplit("_", 1)[-1],
                          *(f"{s['bias']:+.3f} ± {s['bias_se']:.3f}{flag(s)}" for s in stats.values()),
                          f"{stats[METHODS[0]]['rmse']:.2f}",
                          *(f"{stats[m_]['coverage']:.1%} ± {stats[m_]['coverage_se']:.1%}" for m_ in METHODS))
    return t


def _take(d: "Draws", sel: np.ndarray) -> "Draws":
    return Draws(d.keys[sel], d.truth[sel], [e[sel] for e in d.est], [x[sel] for x in d.lo], [x[sel] for x in d.hi])


# ---- per-draw collection and summaries ------------------------------------------------------------

@dataclass
class Draws:
    """Per draw, an estimate, interval and truth for a fixed list of keys (NaN: not available)."""

    keys: pd.Index
    truth: np.ndarray
    est: list[np.ndarray] = field(default_factory=list)
    lo: list[np.ndarray] = field(default_factory=list)
    hi: list[np.ndarray] = field(default_factory=list)

    def add(self, frame: pd.DataFrame, est: str, lo: str | None = None, hi: str | None = None,
            keep: pd.Series | None = None) -> None:
        f = frame if keep is None else frame[keep]
        f = f[~f.index.duplicated()].reindex(self.keys)
        self.est.append(f[est].to_numpy(dtype=float))
        if lo is not None:
            self.lo.append(f[lo].to_numpy(dtype=float))
            self.hi.append(f[hi].to_numpy(dtype=float))


def summarise(d: Draws, unit: float, relative: bool = False) -> dict[str, object]:
    """Bias, RMSE, coverage and their MC standard errors, pooled over keys and per key."""
    est = np.vstack(d.est)
    t = np.broadcast_to(d.truth, est.shape)
    err = (est / t - 1) if relative else (est - t)
    err = err * unit
    ok = np.isfinite(err)
    n_draws = est.shape[0]
    per_draw_bias = np.array([e[o].mean() if o.any() else np.nan for e, o in zip(err, ok)])
    per_draw_mse = np.array([(e[o] ** 2).mean() if o.any() else np.nan for e, o in zip(err, ok)])
    mse = float(np.nanmean(per_draw_mse))
    rmse = math.sqrt(mse)
    out: dict[str, object] = {
        "n": int(ok.sum()), "bias": float(np.nanmean(per_draw_bias)),
        "bias_se": float(np.nanstd(per_draw_bias, ddof=1) / math.sqrt(n_draws)),
        "rmse": rmse, "rmse_se": float(np.nanstd(per_draw_mse, ddof=1) / math.sqrt(n_draws) / (2 * rmse)) if rmse else 0.0,
    }
    cnt = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        key_bias = np.where(cnt > 0, np.where(ok, err, 0).sum(axis=0) / np.maximum(cnt, 1), np.nan)
        key_sd = np.sqrt(np.where(ok, (err - key_bias) ** 2, 0).sum(axis=0) / np.maximum(cnt - 1, 1))
    key_se = key_sd / np.sqrt(np.maximum(cnt, 1))
    out["key_bias"], out["key_se"], out["key_n"] = key_bias, key_se, cnt
    if d.lo:
        lo, hi = np.vstack(d.lo), np.vstack(d.hi)
        cov_ok = ok & np.isfinite(lo) & np.isfinite(hi)
        inside = (lo <= t) & (t <= hi)
        per_draw = np.array([i[o].mean() if o.any() else np.nan for i, o in zip(inside, cov_ok)])
        out["coverage"] = float((inside & cov_ok).sum() / max(cov_ok.sum(), 1))
        out["coverage_se"] = float(np.nanstd(per_draw, ddof=1) / math.sqrt(n_draws))
        out["n_cov"] = int(cov_ok.sum())
        kc = cov_ok.sum(axis=0)
        out["key_coverage"] = np.where(kc > 0, (inside & cov_ok).sum(axis=0) / np.maximum(kc, 1), np.nan)
    return out


# ---- year-on-year change (--trend) -----------------------------------------------------------------

def true_rates_0_17(truth: pd.DataFrame) -> pd.Series:
    """The truth's 0-17 rate per (wijk or gemeente, indicator)."""
    t = truth.groupby(["wijk_code", "indicator"])[["numerator", "denominator"]].sum()
    return t["numerator"] / t["denominator"]


def trend_validity(args, geo, table: Table, verdicts: list) -> None:
    """Two years' truths, each re-noised with its own round's scales (last year: the marginal
    round; this year: the full round), through assemble_index and year_on_year; the change's bias
    and the coverage of its 90% interval at gemeente and wijk level (0-17, as the report shows it)."""
    with tempfile.TemporaryDirectory() as tmp:
        info = generate_federation(Path(tmp) / "federation", seed=args.seed, scale=args.scale, geography=geo, years=2)
        truth = pd.read_csv(info.out_dir / "truth" / "truth.csv", dtype={"wijk_code": str, "age_band": str})
    before, after = info.periods[-2], info.periods[-1]
    specs = {before: RoundSpec.from_toml(round_spec(before, info.gemeente_code, info.holders, epsilon=args.epsilon,
                                                    fuzzy=info.fuzzy)),
             after: RoundSpec.from_toml(round_spec(after, info.gemeente_code, info.holders, epsilon=args.epsilon,
                                                   joint=info.joint, cumulative=info.cumulative, fuzzy=info.fuzzy))}
    gm = info.gemeente_code
    areas = geo.wijken[["wijk_code", "wijk_name"]].sort_values("wijk_code").values.tolist()
    cells = [m.Cell(code, name, band.label) for code, name in areas for band in specs[after].age_bands]
    vectors = {p: round_vectors(specs[p], cells, truth[truth["period"] == p]) for p in specs}
    common = [v.indicator for v in vectors[before][1]]
    rates = {p: true_rates_0_17(truth[truth["period"] == p]) for p in specs}
    t_change = (rates[after] - rates[before]).reindex(pd.MultiIndex.from_tuples(
        [(w, i) for w, _ in areas + [(gm, "")] for i in common]))
    changes = Draws(t_change.index, t_change.to_numpy(float))
    rng = np.random.default_rng(args.seed + 2)
    started = time.perf_counter()
    with mock.patch("wijkindex.estimators.index._smooth", _no_smoothing):  # the change reads no rate_eb
        for _ in range(args.trend_draws):
            history, partial = [], set()
            for p, (population, nums) in vectors.items():
                meta = IndexMeta(f"trend-{p}", p, gm, geo.gemeente_name, min_cell_size=specs[p].min_cell_size)
                idx = assemble_index(meta, cells, {n: noised(v, rng) for n, v in population.items()},
                                     [noised(v, rng) for v in nums if v.indicator in common], scope=specs[p])
                sup = idx[idx["suppressed"].astype(bool)]
                partial |= set(zip(sup["wijk_code"], sup["indicator"]))  # a band left out: not the truth's 0-17
                history.append(idx)
            ch = year_on_year(pd.concat(history, ignore_index=True)).set_index(["wijk_code", "indicator"])
            changes.add(ch, "change", "change_low90", "change_high90", keep=~ch.index.isin(list(partial)))
    is_gm = changes.keys.get_level_values(0) == gm
    for sel, level in ((is_gm, "gemeente 0-17"), (~is_gm, "wijk 0-17")):
        part = _take(changes, sel)
        s = summarise(part, 100)
        b, se = s["key_bias"], s["key_se"]
        fin = np.isfinite(b)
        bad = int(off_target(b, se).sum())
        i = int(np.nanargmax(np.abs(b)))
        cov_ok = COVERAGE[0] <= s["coverage"] <= COVERAGE[1]
        ok = cov_ok and (bad == 0 if level.startswith("gemeente") else True)
        table.add_row(f"year-on-year change {before}-{after}", level, f"{s['n']:,}",
                      f"{s['bias']:+.3f} ± {s['bias_se']:.3f} pp",
                      f"{b[i]:+.3f} ± {se[i]:.3f} pp ({' '.join(str(x) for x in part.keys[i] if x != gm)})",
                      f"{s['rmse']:.2f} ± {s['rmse_se']:.2f} pp", f"{s['coverage']:.1%} ± {s['coverage_se']:.1%}",
                      (f"every |bias| <= {BIAS_PP} pp or chance: {int(fin.sum()) - bad}/{int(fin.sum())} rows; "
                       if level.startswith("gemeente") else "") + f"coverage {COVERAGE[0]:.0%}-{COVERAGE[1]:.0%}",
                      "yes" if ok else "[red]NO[/]")
        verdicts.append((f"year-on-year change ({level})", ok))
    console.print(f"year-on-year change: {args.trend_draws} draws of both years in {time.perf_counter() - started:.0f} s "
                  f"({len(common)} indicators of the {before} marginal round)")


def _no_smoothing(df: pd.DataFrame, gemeente_code: str, orientation) -> None:
    df["rate_eb"], df["moe90_eb"] = df["rate"], df["moe90"]


def true_indices(truth: pd.DataFrame, gm: str) -> dict[str, dict[str, float]]:
    """The truth's 0-17 index (gemeente = 100) per wijk and indicator, as the composite reads them."""
    per = wijk_indices(truth_as_index(truth, gm), shrink=False)
    return {w: dict(zip(g["indicator"], g["index"].astype(float))) for w, g in per.groupby("wijk_code")}


def against_truth(comp: pd.DataFrame, t_idx: dict[str, dict[str, float]], fixed: pd.Series,
                  definition: IndexDefinition) -> pd.DataFrame:
    """Composite rows shifted so that their error against ``fixed`` (the keys' truth in Draws) is
    their error against the truth of what they estimate: the score over the indicators each row
    used (a wijk where one is not published scores the others; composite.score_of)."""
    own = pd.Series([score_of(t_idx.get(w, {}), dom, r["indicators"], definition) for (w, dom), r in comp.iterrows()], index=comp.index)
    shift = (fixed.reindex(comp.index) - own).fillna(0.0)
    return comp.assign(score=comp["score"] + shift, lo=comp["score"] - comp["moe90"] + shift,
                       hi=comp["score"] + comp["moe90"] + shift)


def demo_round(args: argparse.Namespace, definition: IndexDefinition) -> Table:
    """Once, the real demo round (loopback gRPC, TLS, Paillier, OpenDP noise; ``run_demo`` with one
    year) against its own truth: per estimator the cells, the mean error and the share of
    intervals that hold the truth. One round is one draw, so these figures scatter around the
    re-noised ones by their Monte Carlo spread; they show the real pipeline gives what the
    re-noised assembly does."""
    from wijkindex.demo import run_demo

    with tempfile.TemporaryDirectory() as tmp:
        res = run_demo(Path(tmp) / "demo", scale=args.scale, epsilon=args.epsilon, seed=args.seed, years=1,
                       console=Console(stderr=True, quiet=True))
        truth = pd.read_csv(Path(tmp) / "demo" / "federation" / "truth" / "truth.csv",
                            dtype={"wijk_code": str, "age_band": str})
    idx = res.index
    gm = str(idx["gemeente_code"].iloc[0])
    t_rate = truth.set_index(["wijk_code", "age_band", "indicator"])["rate"]
    k = idx[~idx["suppressed"].astype(bool)].set_index(["wijk_code", "age_band", "indicator"])
    k = k.assign(truth=t_rate.reindex(k.index).to_numpy())
    t = Table(title=f"the real demo round once ({res.n_children:,} children, epsilon {args.epsilon:g} per node, "
                    f"round {res.round_id})")
    for col in ("estimator", "level", "cells", "mean error", "90% interval holds the truth"):
        t.add_column(col, justify="left" if col in ("estimator", "level") else "right")

    def add(name: str, level: str, est: pd.Series, half: pd.Series, true: pd.Series, unit: float = 100) -> None:
        ok = est.notna() & half.notna() & true.notna()
        e, h, tr = est[ok].astype(float), half[ok].astype(float), true[ok].astype(float)
        t.add_row(name, level, f"{int(ok.sum()):,}", f"{unit * (e - tr).mean():+.3f}" + (" pp" if unit == 100 else " pts"),
                  f"{((e - h <= tr) & (tr <= e + h)).mean():.1%}")

    wijk = k.index.get_level_values(0) != gm
    add("wijk rate (shown)", "wijk x band", k["rate"][wijk], k["moe90"][wijk], k["truth"][wijk])
    add("wijk rate small-area (rate_eb)", "wijk x band", k["rate_eb"][wijk], k["moe90_eb"][wijk], k["truth"][wijk])
    add("gemeente rate (shown)", "gemeente x band", k["rate"][~wijk], k["moe90"][~wijk], k["truth"][~wijk])
    tot = wijk_totals(idx).set_index(["wijk_code", "indicator"])
    t_tot = truth.groupby(["wijk_code", "indicator"])[["numerator", "denominator"]].sum()
    t_tot = (t_tot["numerator"] / t_tot["denominator"]).reindex(tot.index)
    partial = set(idx.loc[idx["suppressed"].astype(bool) & (idx["wijk_code"] != gm), "wijk_code"])
    keep = ~tot.index.get_level_values(0).isin(partial)
    half = Z90 * np.sqrt(tot["var"])
    for sel, level in ((keep & (tot.index.get_level_values(0) != gm), "wijk 0-17"),
                       (tot.index.get_level_values(0) == gm, "gemeente 0-17")):
        add("0-17 total", level, tot["rate_raw"][sel], half[sel], t_tot[sel])
    comp = composite_scores(idx, definition).set_index(["wijk_code", "domain"])
    t_idx = true_indices(truth, gm)
    t_comp = pd.Series([score_of(t_idx.get(w, {}), dom, r["indicators"], definition) for (w, dom), r in comp.iterrows()],
                       index=comp.index)
    is_total = comp.index.get_level_values(1) == TOTAL
    for sel, name in ((is_total, "composite score, overall"), (~is_total, "composite score, domains")):
        add(name, "wijk", comp["score"][sel], comp["moe90"][sel], t_comp[sel], unit=1)
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--draws", type=int, default=200, help="re-noised draws of the round")
    ap.add_argument("--scale", type=float, default=1.0, help="federation size, 1.0 = Zwolle")
    ap.add_argument("--epsilon", type=float, default=1.0, help="privacy loss per node")
    ap.add_argument("--seed", type=int, default=2014)
    ap.add_argument("--trend", action="store_true", help="also measure the year-on-year change (a second year)")
    ap.add_argument("--trend-draws", type=int, default=None, help="draws for --trend (default: --draws)")
    ap.add_argument("--demo-round", action="store_true",
                    help="also run the real demo round once (about 3 minutes) and measure it against its truth")
    ap.add_argument("--rr-method", choices=sorted(RR_METHODS), default=None,
                    help="relative-risk estimator for every definition (default: the index definition's)")
    ap.add_argument("--rr-max-factor", type=float, default=None,
                    help="publish a relative risk only where its interval's high/low is at most this")
    args = ap.parse_args()
    if args.draws < 2:
        ap.error("--draws must be at least 2 (standard errors need a spread)")
    args.trend_draws = args.trend_draws or args.draws
    started = time.perf_counter()

    geo = load_zwolle()
    with tempfile.TemporaryDirectory() as tmp:
        info = generate_federation(Path(tmp) / "federation", seed=args.seed, scale=args.scale, geography=geo)
        truth = pd.read_csv(info.out_dir / "truth" / "truth.csv", dtype={"wijk_code": str, "age_band": str})
    spec = RoundSpec.from_toml(round_spec(info.period, info.gemeente_code, info.holders, epsilon=args.epsilon,
                                          joint=info.joint, cumulative=info.cumulative, fuzzy=info.fuzzy))
    gm = spec.gemeente
    areas = geo.wijken[["wijk_code", "wijk_name"]].sort_values("wijk_code").values.tolist()
    cells = [m.Cell(code, name, band.label) for code, name in areas for band in spec.age_bands]
    populations, vectors = round_vectors(spec, cells, truth)
    meta = IndexMeta("validity", spec.period, gm, geo.gemeente_name, min_cell_size=spec.min_cell_size)
    definition = IndexDefinition.load()
    rr_defs = load_relative_risks()
    if args.rr_method:
        rr_defs = tuple(dataclasses.replace(d, method=args.rr_method) for d in rr_defs)
    if args.rr_max_factor:
        rr_defs = tuple(dataclasses.replace(d, max_factor=args.rr_max_factor) for d in rr_defs)
    cumulative = [j for j in spec.joint if j.kind == "count"]

    # the truth of each figure, keyed as the figure's rows
    t_rate = truth.set_index(["wijk_code", "age_band", "indicator"])["rate"]
    t_tot = truth.groupby(["wijk_code", "indicator"])[["numerator", "denominator"]].sum()
    t_tot = t_tot["numerator"] / t_tot["denominator"]
    t_rr = true_relative_risks(truth, rr_defs)
    exact = composite_scores(truth_as_index(truth, gm), dataclasses.replace(definition, shrink=False))
    t_comp = exact.set_index(["wijk_code", "domain"])["score"]
    t_idx = true_indices(truth, gm)

    released = [v.indicator for v in vectors]
    shown_bands = {i: {b.label for b in spec.published_bands(i)} for i in released}  # within each one's ages
    rate_keys = pd.MultiIndex.from_tuples([(c.area_code, c.age_band, i) for i in released for c in cells
                                           if c.age_band in shown_bands[i]]
                                          + [(gm, b, i) for i in released for b in sorted(shown_bands[i])])
    is_gm_rate = rate_keys.get_level_values(0) == gm
    tot_keys = pd.MultiIndex.from_tuples([(w, i) for w, _ in areas + [(gm, "")] for i in released])
    rr_keys = pd.MultiIndex.from_tuples(list(t_rr.index))
    comp_keys = pd.MultiIndex.from_tuples([k for k in t_comp.index if pd.notna(t_comp[k])])
    rates = Draws(rate_keys, t_rate.reindex(rate_keys).to_numpy(float))
    rates_raw = Draws(rate_keys, rates.truth)
    rates_eb = Draws(rate_keys, rates.truth)
    totals = Draws(tot_keys, t_tot.reindex(tot_keys).to_numpy(float))
    rrs = Draws(rr_keys, t_rr.reindex(rr_keys).to_numpy(float))
    comps = Draws(comp_keys, t_comp.reindex(comp_keys).to_numpy(float))
    cum_truth = true_cumulative_shares(truth, cumulative, spec.age_bands)
    cums = {meth: Draws(cum_truth.index, cum_truth.to_numpy(float)) for meth in (*METHODS, "equal", "unbiased")}
    suppressed_cells = 0
    rr_counts = {"gemeente": [0, 0, 0], "wijk": [0, 0, 0]}  # published, too uncertain, too few children

    rng = np.random.default_rng(args.seed + 1)
    console.print(f"re-noising the truth {args.draws} times through the assembly "
                  f"({len(cells)} cells, {len(vectors)} numerator vectors) ...")
    for _ in range(args.draws):
        idx = assemble_index(meta, cells, {n: noised(v, rng) for n, v in populations.items()},
                             [noised(v, rng) for v in vectors], orientation=definition.orientation, scope=spec)
        published = set(zip(idx["wijk_code"], idx["age_band"], idx["indicator"]))
        if not published <= set(rate_keys):
            raise SystemExit(f"published outside an indicator's population: {sorted(published - set(rate_keys))[:3]}")
        k = idx.set_index(["wijk_code", "age_band", "indicator"])
        shown = ~k["suppressed"] | (k.index.get_level_values(0) == gm)
        k = k.assign(rate_unclipped=k["numerator_noisy"].astype(float) / k["denominator_noisy"].astype(float),
                     lo=k["rate"] - k["moe90"], hi=k["rate"] + k["moe90"],
                     lo_eb=k["rate_eb"] - k["moe90_eb"], hi_eb=k["rate_eb"] + k["moe90_eb"])
        rates.add(k, "rate", "lo", "hi", keep=shown)
        rates_raw.add(k, "rate_unclipped", keep=shown)
        rates_eb.add(k, "rate_eb", "lo_eb", "hi_eb", keep=shown)
        wijk_sup = idx[(idx["wijk_code"] != gm)].drop_duplicates(["wijk_code", "age_band"])
        suppressed_cells += int(wijk_sup["suppressed"].sum())
        partial = set(wijk_sup.loc[wijk_sup["suppressed"], "wijk_code"])  # a band left out: not the truth's 0-17

        tot = wijk_totals(idx)
        half = Z90 * np.sqrt(tot["var"])
        tot = tot.assign(lo=tot["rate_raw"] - half, hi=tot["rate_raw"] + half).set_index(["wijk_code", "indicator"])
        totals.add(tot, "rate_raw", "lo", "hi", keep=~tot.index.get_level_values(0).isin(partial))

        rr = relative_risks(idx, rr_defs).set_index(["wijk_code", "age_band", "name"])
        keep_rr = ~rr["suppressed"] & ~((rr.index.get_level_values(1) == TOTAL_BAND)
                                        & rr.index.get_level_values(0).isin(partial))
        for level, sel in (("gemeente", rr.index.get_level_values(0) == gm),
                           ("wijk", rr.index.get_level_values(0) != gm)):
            r = rr[sel & keep_rr.to_numpy()]
            rr_counts[level][0] += int(r["published"].sum())
            rr_counts[level][1] += int((~r["published"] & ~r["suppressed"]).sum())
            rr_counts[level][2] += int(sel.sum() - len(r))
        rrs.add(rr, "relative_risk", "rr_low90", "rr_high90", keep=keep_rr)

        comp = composite_scores(idx, definition).set_index(["wijk_code", "domain"])
        comps.add(against_truth(comp, t_idx, t_comp, definition), "score", "lo", "hi")

        per_area = draw_cumulative_shares(idx, cumulative, spec.age_bands, "per-area", partial)
        for meth, d in cums.items():
            f = per_area if meth in ("per-area", "unbiased") else draw_cumulative_shares(
                idx, cumulative, spec.age_bands, meth, partial, per_area)
            d.add(f, "share_unbiased" if meth == "unbiased" else "share", "share_low90", "share_high90")
    elapsed = time.perf_counter() - started

    # ---- the figures -------------------------------------------------------------------------
    n_wijk_cells = len(cells) * args.draws
    table = Table(title=f"wijkindex validity over {args.draws} re-noised draws (epsilon {args.epsilon:g} per node, "
                        f"{info.n_children:,} children, {len(areas)} wijken x {len(spec.age_bands)} age bands)")
    for col, just in (("estimator", "left"), ("level", "left"), ("n", "right"), ("bias ± MC SE", "right"),
                      ("worst |bias| (cell)", "right"), ("RMSE ± MC SE", "right"), ("90% coverage ± MC SE", "right"),
                      ("target", "left"), ("met", "left")):
        table.add_column(col, justify=just)
    verdicts: list[tuple[str, bool]] = []
    failing: list[tuple[str, str, str, str]] = []  # gemeente-level rows off the bias target

    def note_failing(name: str, s: dict, keys: pd.Index, truth: np.ndarray) -> None:
        b, se = s["key_bias"], s["key_se"]
        for i in np.nonzero(off_target(b, se))[0]:
            failing.append((name, " ".join(str(x) for x in keys[i] if str(x) != gm), f"{100 * truth[i]:.2f} %",
                            f"{b[i]:+.3f} ± {se[i]:.3f} pp ({abs(b[i]) / se[i]:.1f} SE)"))

    def cov_text(s: dict) -> str:
        return f"{s['coverage']:.1%} ± {s['coverage_se']:.1%}" if "coverage" in s else "-"

    def cov_ok(s: dict) -> bool:
        return COVERAGE[0] <= s["coverage"] <= COVERAGE[1]

    def worst(s: dict, keys: pd.Index, sel: np.ndarray, unit: str, fmt: str = ".3f") -> tuple[str, int, int]:
        """The row with the largest |bias| and how many rows fail the bias target (off_target)."""
        b, se = s["key_bias"][sel], s["key_se"][sel]
        kk = keys[sel]
        fin = np.isfinite(b)
        if not fin.any():
            return "-", 0, 0
        i = int(np.nanargmax(np.abs(b)))
        bad = off_target(b, se)
        label = " ".join(str(x) for x in kk[i] if str(x) != gm)
        return f"{b[i]:+{fmt}} ± {se[i]:{fmt}} {unit} ({label})", int(bad.sum()), int(fin.sum())

    def row(name: str, level: str, s: dict, unit: str, keys: pd.Index, sel: np.ndarray, target: str = "",
            ok: bool | None = None, fmt: str = ".3f") -> None:
        w, _, _ = worst(s, keys, sel, unit, fmt)
        table.add_row(name, level, f"{s['n']:,}", f"{s['bias']:+{fmt}} ± {s['bias_se']:{fmt}} {unit}", w,
                      f"{s['rmse']:.2f} ± {s['rmse_se']:.2f} {unit}", cov_text(s), target,
                      "" if ok is None else ("yes" if ok else "[red]NO[/]"))
        if ok is not None:
            verdicts.append((f"{name} ({level})", ok))

    def split(d: Draws, sel: np.ndarray) -> Draws:
        return Draws(d.keys[sel], d.truth[sel], [e[sel] for e in d.est], [x[sel] for x in d.lo], [x[sel] for x in d.hi])

    cov_target = f"coverage {COVERAGE[0]:.0%}-{COVERAGE[1]:.0%}"
    # wijk rates
    for d, name in ((rates, "wijk rate (shown, clipped at 0)"), (rates_raw, "wijk rate (unclipped noisy counts)"),
                    (rates_eb, "wijk rate small-area (rate_eb)")):
        wk = split(d, ~is_gm_rate)
        s = summarise(wk, 100)
        row(name, "wijk x band", s, "pp", wk.keys, np.ones(len(wk.keys), bool),
            cov_target if d.lo else "", cov_ok(s) if d.lo else None)
    # gemeente rates
    gmr = split(rates, is_gm_rate)
    s = summarise(gmr, 100)
    _, bad, nrows = worst(s, gmr.keys, np.ones(len(gmr.keys), bool), "pp")
    note_failing("gemeente rate (shown)", s, gmr.keys, gmr.truth)
    row("gemeente rate (shown, clipped to 0-1)", "gemeente x band", s, "pp", gmr.keys, np.ones(len(gmr.keys), bool),
        f"every |bias| <= {BIAS_PP} pp or chance: {nrows - bad}/{nrows} rows; {cov_target}",
        bad == 0 and cov_ok(s))
    gmu = split(rates_raw, is_gm_rate)
    s = summarise(gmu, 100)
    _, bad, nrows = worst(s, gmu.keys, np.ones(len(gmu.keys), bool), "pp")
    note_failing("gemeente rate (unclipped)", s, gmu.keys, gmu.truth)
    row("gemeente rate (unclipped noisy counts)", "gemeente x band", s, "pp", gmu.keys, np.ones(len(gmu.keys), bool),
        f"every |bias| <= {BIAS_PP} pp or chance: {nrows - bad}/{nrows} rows", bad == 0)
    # 0-17 totals
    is_gm_tot = totals.keys.get_level_values(0) == gm
    for sel, level in ((~is_gm_tot, "wijk 0-17"), (is_gm_tot, "gemeente 0-17")):
        part = split(totals, sel)
        s = summarise(part, 100)
        if level.startswith("gemeente"):
            _, bad, nrows = worst(s, part.keys, np.ones(len(part.keys), bool), "pp")
            note_failing("gemeente 0-17 total", s, part.keys, part.truth)
            row("0-17 total (wijk_totals rate_raw)", level, s, "pp", part.keys, np.ones(len(part.keys), bool),
                f"every |bias| <= {BIAS_PP} pp or chance: {nrows - bad}/{nrows} rows; {cov_target}",
                bad == 0 and cov_ok(s))
        else:
            row("0-17 total (wijk_totals rate_raw)", level, s, "pp", part.keys, np.ones(len(part.keys), bool),
                cov_target, cov_ok(s))
    # relative risks: relative error in %
    is_gm_rr = rrs.keys.get_level_values(0) == gm
    for sel, level in ((~is_gm_rr, "wijk, band and 0-17"), (is_gm_rr, "gemeente, band and 0-17")):
        part = split(rrs, sel)
        s = summarise(part, 100, relative=True)
        if level.startswith("gemeente"):
            kb = s["key_bias"]
            fin = np.isfinite(kb)
            # over the rows published in some draw (a row hidden in every draw has no estimate to judge)
            rr_ok = bool(fin.any() and abs(s["bias"]) <= 100 * RR_REL and (np.abs(kb[fin]) <= 100 * RR_REL).all())
            gm_rr, gm_rr_stats = part, s
            if not fin.any():  # nothing precise enough to publish in any draw: nothing to judge
                table.add_row("relative risk (relative error)", level, "0", "-", "-", "-", "-",
                              "no row published in any draw", "[red]NO[/]")
                verdicts += [("relative risk within 10% (gemeente)", False),
                             ("relative risk coverage (gemeente)", False)]
                continue
            w_i = int(np.nanargmax(np.abs(kb)))
            table.add_row("relative risk (relative error)", level, f"{s['n']:,}",
                          f"{s['bias']:+.2f} ± {s['bias_se']:.2f} %",
                          f"{kb[w_i]:+.2f} ± {s['key_se'][w_i]:.2f} % ({' '.join(map(str, part.keys[w_i][1:]))})",
                          f"{s['rmse']:.2f} ± {s['rmse_se']:.2f} %", cov_text(s),
                          f"every mean rel. error within ±{RR_REL:.0%} ({int((np.abs(kb[fin]) <= 100 * RR_REL).sum())}"
                          f"/{int(fin.sum())} published rows); {cov_target}", "yes" if rr_ok and cov_ok(s) else "[red]NO[/]")
            verdicts += [("relative risk within 10% (gemeente)", rr_ok), ("relative risk coverage (gemeente)", cov_ok(s))]
        else:
            row("relative risk (relative error)", level, s, "%", part.keys, np.ones(len(part.keys), bool),
                cov_target, cov_ok(s), fmt=".2f")
    # composite scores
    is_total = comps.keys.get_level_values(1) == TOTAL
    is_gm_c = comps.keys.get_level_values(0) == gm
    for sel, name in ((is_total & ~is_gm_c, "composite score, overall"),
                      (~is_total & ~is_gm_c, "composite score, domains")):
        part = split(comps, sel)
        s = summarise(part, 1)
        row(name, f"wijk ({len(set(part.keys.get_level_values(0)))} scored)", s, "pts", part.keys,
            np.ones(len(part.keys), bool), cov_target, cov_ok(s), fmt=".2f")
    # cumulative-risk shares: the published 0-17 figure at gemeente level
    for meth in METHODS:
        d = cums[meth]
        sel = (d.keys.get_level_values(0) == gm) & (d.keys.get_level_values(1) == TOTAL_BAND)
        part = split(d, sel)
        s = summarise(part, 100)
        _, bad, nrows = worst(s, part.keys, np.ones(len(part.keys), bool), "pp")
        note_failing(f"cumulative-risk share ({meth})", s, part.keys, part.truth)
        row(f"cumulative-risk share ({meth})", "gemeente 0-17", s, "pp", part.keys, np.ones(len(part.keys), bool),
            f"every |bias| <= {BIAS_PP} pp or chance: {nrows - bad}/{nrows} rows; {cov_target}", bad == 0 and cov_ok(s))
    if args.trend:
        trend_validity(args, geo, table, verdicts)
    console.print(table)
    if args.demo_round:
        console.print(demo_round(args, definition))

    # coverage per indicator family (the spread behind the pooled figures)
    detail = Table(title="90% coverage per indicator or domain (pooled over cells and draws): lowest and highest")
    for col in ("estimator", "lowest", "highest", "indicators outside 88-92%", "the lowest three"):
        detail.add_column(col)
    for d, name, sel in ((rates, "wijk rate (shown)", ~is_gm_rate), (rates_eb, "wijk rate_eb", ~is_gm_rate),
                         (rates, "gemeente rate", is_gm_rate), (totals, "wijk 0-17 total", ~is_gm_tot),
                         (comps, "composite score (per domain)", ~is_gm_c)):
        part = split(d, sel)
        lo, hi, t = np.vstack(part.lo), np.vstack(part.hi), part.truth
        ok = np.isfinite(np.vstack(part.est)) & np.isfinite(lo)
        inside = (lo <= t) & (t <= hi) & ok
        ind = part.keys.get_level_values(-1)
        cov = pd.Series({i: inside[:, ind == i].sum() / ok[:, ind == i].sum() for i in dict.fromkeys(ind)
                         if ok[:, ind == i].any()})  # an indicator never published there has no coverage
        out = cov[(cov < COVERAGE[0]) | (cov > COVERAGE[1])]
        detail.add_row(name, f"{cov.min():.1%} ({cov.idxmin()})", f"{cov.max():.1%} ({cov.idxmax()})",
                       f"{len(out)} of {len(cov)}",
                       ", ".join(f"{i} {c:.1%}" for i, c in cov.sort_values().head(3).items()))
    console.print(detail)

    rr_table = Table(title="gemeente relative risks: truth against the draws (relative error = RR / true RR - 1)")
    for col in ("relative risk", "band", "true RR", "computed in", "mean RR", "median RR", "mean rel. error ± MC SE",
                "median rel. error", "90% coverage", "within ±10%"):
        rr_table.add_column(col, justify="left" if col in ("relative risk", "band") else "right")
    est = np.vstack(gm_rr.est)
    for i, key in enumerate(gm_rr.keys):
        col = est[:, i][np.isfinite(est[:, i])]
        t = gm_rr.truth[i]
        kb, kse = gm_rr_stats["key_bias"][i], gm_rr_stats["key_se"][i]
        rr_table.add_row(key[2], key[1], f"{t:.2f}" if np.isfinite(t) else "n/a (no true case)",
                         f"{len(col)}/{len(est)}", f"{col.mean():.2f}" if len(col) else "-",
                         f"{np.median(col):.2f}" if len(col) else "-",
                         f"{kb:+.1f} ± {kse:.1f} %" if np.isfinite(kb) else "-",
                         f"{100 * (np.median(col) / t - 1):+.1f} %" if len(col) and np.isfinite(t) else "-",
                         f"{gm_rr_stats['key_coverage'][i]:.1%}" if np.isfinite(gm_rr_stats["key_coverage"][i]) else "-",
                         ("yes" if abs(kb) <= 100 * RR_REL else "[red]NO[/]") if np.isfinite(kb) else "-")
    console.print(rr_table)

    console.print(cumulative_table(cums, gm))

    if failing:
        ft = Table(title=f"gemeente-level rows whose mean error exceeds {BIAS_PP} pp and the Bonferroni bound of "
                         f"their table ({FAMILY_ALPHA:.0%} per table: about 3.3 MC SE for 61 rows)")
        for col in ("estimator", "row", "true rate", "bias ± MC SE"):
            ft.add_column(col)
        for r in failing:
            ft.add_row(*r)
        console.print(ft)

    met = sum(ok for _, ok in verdicts)
    console.print(f"targets met: {met} of {len(verdicts)}; not met: "
                  + (", ".join(n for n, ok in verdicts if not ok) or "none"))
    console.print(f"suppressed wijk x band cells: {suppressed_cells:,} of {n_wijk_cells:,} cell-draws "
                  f"(left out of wijk-level figures; a wijk with a suppressed band is left out of its 0-17 figures); "
                  f"relative-risk method: {', '.join(sorted({d.method for d in rr_defs}))}, published where the "
                  f"90% interval's high/low <= {', '.join(sorted({f'{d.max_factor:g}' for d in rr_defs}))}")
    for level, (pub, unsure, few) in rr_counts.items():
        console.print(f"relative-risk rows ({level}, row-draws): {pub:,} published, {unsure:,} hidden as too "
                      f"uncertain, {few:,} suppressed (too few children or a suppressed band)")
    console.print("bias: mean signed error over draws and cells (MC SE from the spread of per-draw means); worst: "
                  "the cell/row with the largest mean error, with its own MC SE; relative risks as relative error "
                  "(RR / true RR - 1); composite scores in points (gemeente = 100) against the exact truth's scores.")
    console.print("cumulative-risk shares: the report publishes 0-17 per wijk and for the gemeente (with a 90% interval); "
                  "per band they are computed the same way for comparison but not published. 'equal': the unweighted "
                  "projection used before (for comparison); 'unbiased': share_unbiased, the unclipped split "
                  "(sums to 100%, may be negative; what figures built on the shares use).")
    console.print(f"populations: {len(populations)} released ({', '.join(populations)}); no published cell outside "
                  f"its indicator's ages or population in any draw (checked: {len(rate_keys):,} publishable rate rows)")
    console.print(f"run time: {elapsed:.0f} s ({args.draws} draws)")


if __name__ == "__main__":
    main()
