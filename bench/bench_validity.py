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
- |bias| of every gemeente-level rate <= 0.1 percentage point, or within two MC SE of zero,
- coverage of every interval kind between 88% and 92%,
- gemeente-level relative risks within 10% of the truth on average.
Suppressed cells (noised population below the round's min_cell_size) are left out of the
wijk-level figures and counted. Year-on-year change is not measured (it needs a second year's
federation and round; see the note printed under the table).

Run:  .venv/bin/python bench/bench_validity.py [--draws 200] [--scale 1.0] [--epsilon 1.0] [--seed 2014]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import truth_as_index  # noqa: E402  (the truth in the index's shape)

from wijkindex.estimators.composite import TOTAL, IndexDefinition, composite_scores  # noqa: E402
from wijkindex.estimators.consistency import consistent_levels  # noqa: E402
from wijkindex.estimators.index import (IndexMeta, NoisedRelease, assemble_index,  # noqa: E402
                                        wijk_totals)
from wijkindex.vocabulary import POPULATION, TOTAL_BAND, Z90  # noqa: E402
from wijkindex.estimators.relative_risk import load_relative_risks, relative_risks  # noqa: E402
from wijkindex.federation import round_spec  # noqa: E402
from wijkindex.geography import load_zwolle  # noqa: E402
from wijkindex.protocol import messages as m  # noqa: E402
from wijkindex.protocol.spec import RoundSpec  # noqa: E402
from wijkindex.synth.generator import generate_federation  # noqa: E402

console = Console(width=max(Console().width, 200))  # the table is wide; piped output too
BIAS_PP = 0.1  # target: |bias| of a gemeente-level rate, percentage points
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--draws", type=int, default=200, help="re-noised draws of the round")
    ap.add_argument("--scale", type=float, default=1.0, help="federation size, 1.0 = Zwolle")
    ap.add_argument("--epsilon", type=float, default=1.0, help="privacy loss per node")
    ap.add_argument("--seed", type=int, default=2014)
    args = ap.parse_args()
    if args.draws < 2:
        ap.error("--draws must be at least 2 (standard errors need a spread)")
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
    cumulative = [j for j in spec.joint if j.kind == "count"]

    # the truth of each figure, keyed as the figure's rows
    t_rate = truth.set_index(["wijk_code", "age_band", "indicator"])["rate"]
    t_tot = truth.groupby(["wijk_code", "indicator"])[["numerator", "denominator"]].sum()
    t_tot = t_tot["numerator"] / t_tot["denominator"]
    t_rr = true_relative_risks(truth, rr_defs)
    exact = composite_scores(truth_as_index(truth, gm), dataclasses.replace(definition, shrink=False))
    t_comp = exact.set_index(["wijk_code", "domain"])["score"]

    released = [v.indicator for v in vectors]
    shown_bands = {i: {b.label for b in spec.published_bands(i)} for i in released}  # within each one's ages
    rate_keys = pd.MultiIndex.from_tuples([(c.area_code, c.age_band, i) for i in released for c in cells
                                           if c.age_band in shown_bands[i]]
                                          + [(gm, b, i) for i in released for b in sorted(shown_bands[i])])
    is_gm_rate = rate_keys.get_level_values(0) == gm
    tot_keys = pd.MultiIndex.from_tuples([(w, i) for w, _ in areas + [(gm, "")] for i in released])
    rr_keys = pd.MultiIndex.from_tuples(list(t_rr.index))
    comp_keys = pd.MultiIndex.from_tuples([k for k in t_comp.index if pd.notna(t_comp[k])])
    cum_keys = pd.MultiIndex.from_tuples([(b.label, name) for j in cumulative for b in spec.age_bands
                                          for name in j.level_names()])

    rates = Draws(rate_keys, t_rate.reindex(rate_keys).to_numpy(float))
    rates_raw = Draws(rate_keys, rates.truth)
    rates_eb = Draws(rate_keys, rates.truth)
    totals = Draws(tot_keys, t_tot.reindex(tot_keys).to_numpy(float))
    rrs = Draws(rr_keys, t_rr.reindex(rr_keys).to_numpy(float))
    comps = Draws(comp_keys, t_comp.reindex(comp_keys).to_numpy(float))
    t_cum = truth[truth["wijk_code"] == gm].set_index(["age_band", "indicator"])["rate"]
    cums = Draws(cum_keys, t_cum.reindex(cum_keys).to_numpy(float))
    suppressed_cells = 0
    rr_not_computed = 0
    rr_rows = 0

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
        rr_rows += int(len(rr))
        rr_not_computed += int(rr["relative_risk"].isna().sum())
        rrs.add(rr, "relative_risk", "rr_low90", "rr_high90", keep=keep_rr)

        comp = composite_scores(idx, definition).set_index(["wijk_code", "domain"])
        comp = comp.assign(lo=comp["score"] - comp["moe90"], hi=comp["score"] + comp["moe90"])
        comps.add(comp, "score", "lo", "hi")

        g = idx[idx["wijk_code"] == gm].set_index(["age_band", "indicator"])
        shares = []
        for j in cumulative:  # the gemeente's split: unclipped sums over the wijken, made consistent
            names = list(j.level_names())
            for b in spec.age_bands:
                lv = [float(g.loc[(b.label, n), "numerator_noisy"]) for n in names]
                den = float(g.loc[(b.label, names[0]), "denominator_noisy"])
                x = consistent_levels(lv, den) / den if den > 0 else np.full(len(names), np.nan)
                shares += [((b.label, n), s) for n, s in zip(names, x)]
        cums.add(pd.DataFrame({"share": dict(shares)}).rename_axis(["age_band", "indicator"]), "share")
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
        for i in np.nonzero(np.isfinite(b) & (np.abs(b) > BIAS_PP) & (np.abs(b) > 2 * se))[0]:
            failing.append((name, " ".join(str(x) for x in keys[i] if str(x) != gm), f"{100 * truth[i]:.2f} %",
                            f"{b[i]:+.3f} ± {se[i]:.3f} pp ({abs(b[i]) / se[i]:.1f} SE)"))

    def cov_text(s: dict) -> str:
        return f"{s['coverage']:.1%} ± {s['coverage_se']:.1%}" if "coverage" in s else "-"

    def cov_ok(s: dict) -> bool:
        return COVERAGE[0] <= s["coverage"] <= COVERAGE[1]

    def worst(s: dict, keys: pd.Index, sel: np.ndarray, unit: str, fmt: str = ".3f") -> tuple[str, int, int]:
        """The row with the largest |bias| and how many rows fail the bias target (<= BIAS_PP or 2 SE)."""
        b, se = s["key_bias"][sel], s["key_se"][sel]
        kk = keys[sel]
        fin = np.isfinite(b)
        if not fin.any():
            return "-", 0, 0
        i = int(np.nanargmax(np.abs(b)))
        bad = fin & (np.abs(b) > BIAS_PP) & (np.abs(b) > 2 * se)
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
        f"every |bias| <= {BIAS_PP} pp or 2 SE: {nrows - bad}/{nrows} rows; {cov_target}",
        bad == 0 and cov_ok(s))
    gmu = split(rates_raw, is_gm_rate)
    s = summarise(gmu, 100)
    _, bad, nrows = worst(s, gmu.keys, np.ones(len(gmu.keys), bool), "pp")
    note_failing("gemeente rate (unclipped)", s, gmu.keys, gmu.truth)
    row("gemeente rate (unclipped noisy counts)", "gemeente x band", s, "pp", gmu.keys, np.ones(len(gmu.keys), bool),
        f"every |bias| <= {BIAS_PP} pp or 2 SE: {nrows - bad}/{nrows} rows", bad == 0)
    # 0-17 totals
    is_gm_tot = totals.keys.get_level_values(0) == gm
    for sel, level in ((~is_gm_tot, "wijk 0-17"), (is_gm_tot, "gemeente 0-17")):
        part = split(totals, sel)
        s = summarise(part, 100)
        if level.startswith("gemeente"):
            _, bad, nrows = worst(s, part.keys, np.ones(len(part.keys), bool), "pp")
            note_failing("gemeente 0-17 total", s, part.keys, part.truth)
            row("0-17 total (wijk_totals rate_raw)", level, s, "pp", part.keys, np.ones(len(part.keys), bool),
                f"every |bias| <= {BIAS_PP} pp or 2 SE: {nrows - bad}/{nrows} rows; {cov_target}",
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
            rr_ok = bool(fin.all() and (np.abs(kb) <= 100 * RR_REL).all())
            w_i = int(np.nanargmax(np.abs(kb)))
            table.add_row("relative risk (relative error)", level, f"{s['n']:,}",
                          f"{s['bias']:+.2f} ± {s['bias_se']:.2f} %",
                          f"{kb[w_i]:+.2f} ± {s['key_se'][w_i]:.2f} % ({' '.join(map(str, part.keys[w_i][1:]))})",
                          f"{s['rmse']:.2f} ± {s['rmse_se']:.2f} %", cov_text(s),
                          f"every mean rel. error within ±{RR_REL:.0%} ({int((np.abs(kb[fin]) <= 100 * RR_REL).sum())}"
                          f"/{len(kb)} rows); {cov_target}", "yes" if rr_ok and cov_ok(s) else "[red]NO[/]")
            verdicts += [("relative risk within 10% (gemeente)", rr_ok), ("relative risk coverage (gemeente)", cov_ok(s))]
            gm_rr, gm_rr_stats = part, s
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
    # cumulative-risk shares at gemeente level
    s = summarise(cums, 100)
    _, bad, nrows = worst(s, cums.keys, np.ones(len(cums.keys), bool), "pp")
    note_failing("cumulative-risk share", s, cums.keys, cums.truth)
    row("cumulative-risk share (consistent_levels)", "gemeente x band", s, "pp", cums.keys,
        np.ones(len(cums.keys), bool), f"every |bias| <= {BIAS_PP} pp or 2 SE: {nrows - bad}/{nrows} rows",
        bad == 0)
    console.print(table)

    # coverage per indicator family (the spread behind the pooled figures)
    detail = Table(title="90% coverage per indicator (pooled over cells and draws): lowest and highest")
    for col in ("estimator", "lowest", "highest", "indicators outside 88-92%", "the lowest three"):
        detail.add_column(col)
    for d, name, sel in ((rates, "wijk rate (shown)", ~is_gm_rate), (rates_eb, "wijk rate_eb", ~is_gm_rate),
                         (rates, "gemeente rate", is_gm_rate), (totals, "wijk 0-17 total", ~is_gm_tot)):
        part = split(d, sel)
        lo, hi, t = np.vstack(part.lo), np.vstack(part.hi), part.truth
        ok = np.isfinite(np.vstack(part.est)) & np.isfinite(lo)
        inside = (lo <= t) & (t <= hi) & ok
        ind = part.keys.get_level_values(-1)
        cov = pd.Series({i: inside[:, ind == i].sum() / max(ok[:, ind == i].sum(), 1) for i in dict.fromkeys(ind)})
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

    if failing:
        ft = Table(title=f"gemeente-level rows whose mean error exceeds {BIAS_PP} pp and 2 MC SE "
                         f"(by chance alone about 5% of unbiased rows would exceed 2 SE)")
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
                  f"relative risks not computed (a non-positive part or a group under 10): "
                  f"{rr_not_computed:,} of {rr_rows:,} rows")
    console.print("bias: mean signed error over draws and cells (MC SE from the spread of per-draw means); worst: "
                  "the cell/row with the largest mean error, with its own MC SE; relative risks as relative error "
                  "(RR / true RR - 1); composite scores in points (gemeente = 100) against the exact truth's scores.")
    console.print("not measured: year-on-year change (needs a second year's federation and round); the linkage "
                  "report. Cumulative-risk shares after consistent_levels have no published interval.")
    console.print(f"populations: {len(populations)} released ({', '.join(populations)}); no published cell outside "
                  f"its indicator's ages or population in any draw (checked: {len(rate_keys):,} publishable rate rows)")
    console.print(f"run time: {elapsed:.0f} s ({args.draws} draws)")


if __name__ == "__main__":
    main()
