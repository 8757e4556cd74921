"""Accuracy of the noised wijk index against the evaluation truth, on the full Zwolle-size federation.

Runs the demo's round (every marginal indicator, the joint indicators and cumulative risk,
epsilon 1 per node) and prints, each next to its target:
- the median absolute error of the wijk x age band rates against truth/ (percentage points),
  for the direct rates and for the empirical-Bayes rates (``rate_eb``, post-processing),
- the Spearman rank correlation of the wijk composite scores (the overall score and each domain)
  with the same definition applied to the exact truth, over the wijken that get a score
  (at least ``min_children`` children; the definition's empirical-Bayes shrinkage on),
- the round's wall time with joint indicators.
Run:  .venv/bin/python bench/bench_accuracy.py [--scale 1.0] [--epsilon 1.0]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path


import pandas as pd
from rich.console import Console
from rich.table import Table

from wijkindex.aggregator.composite import IndexDefinition, composite_scores
from wijkindex.aggregator.index import compare_with_truth

console = Console()


def truth_as_index(truth: pd.DataFrame, gemeente_code: str) -> pd.DataFrame:
    """The truth in the index's shape (no noise, nothing suppressed), to score composites on."""
    t = truth.copy()
    t["suppressed"] = False
    t["numerator_moe90"] = 0.0
    t["denominator_moe90"] = 0.0
    t["gemeente_code"] = gemeente_code
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--epsilon", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=2014)
    args = ap.parse_args()

    from wijkindex.demo import run_demo

    with tempfile.TemporaryDirectory() as tmp:
        res = run_demo(Path(tmp) / "demo", scale=args.scale, epsilon=args.epsilon, seed=args.seed, years=1,
                       console=Console(stderr=True, quiet=True))
        truth = pd.read_csv(Path(tmp) / "demo" / "federation" / "truth" / "truth.csv", dtype={"age_band": str})
    index = res.index
    gm = str(index["gemeente_code"].iloc[0])
    cmp = compare_with_truth(index[(index["wijk_code"] != gm) & ~index["suppressed"].astype(bool)], truth)
    err = 100 * cmp["rate_abs_error"]
    median = float(err.median())
    joint_names = set(truth["indicator"]) - set(i for h in ("gemeente", "ggd", "school")
                                                for i in truth[truth["source"] == h]["indicator"])
    median_marg = float(err[~cmp["indicator"].isin(joint_names)].median())
    median_joint = float(err[cmp["indicator"].isin(joint_names)].median())
    err_eb = 100 * cmp["rate_eb_abs_error"]
    median_eb = float(err_eb.median())
    rmse, rmse_eb = float((err ** 2).mean() ** 0.5), float((err_eb ** 2).mean() ** 0.5)

    noised = composite_scores(index)
    exact = composite_scores(truth_as_index(truth, gm),
                             dataclasses.replace(IndexDefinition.load(), shrink=False))  # the truth needs none
    both = noised.merge(exact, on=["wijk_code", "domain"], suffixes=("", "_true"))
    both = both[(both["wijk_code"] != gm) & both["score"].notna() & both["score_true"].notna()]
    rho = both.groupby("domain").apply(lambda g: g["score"].rank().corr(g["score_true"].rank()),
                                       include_groups=False)
    overall = float(rho.pop("totaal"))
    scored = int(both[both["domain"] == "totaal"].shape[0])

    table = Table(title=f"wijkindex accuracy (epsilon {args.epsilon:g} per node, {res.n_children:,} children)")
    for col in ("what", "measured", "target", "met"):
        table.add_column(col)
    rows = [
        ("median |error| of wijk x age band rates (direct: rate), all", f"{median:.2f} pp", "<= 1.5 pp",
         median <= 1.5),
        ("  marginal indicators", f"{median_marg:.2f} pp", "", True),
        ("  joint indicators and cumulative-risk levels", f"{median_joint:.2f} pp", "", True),
        ("root mean squared error of the direct rates", f"{rmse:.2f} pp", "", True),
        ("empirical-Bayes rates (rate_eb): median |error| / RMSE", f"{median_eb:.2f} / {rmse_eb:.2f} pp", "", True),
        (f"Spearman of the overall composite score vs truth ({scored} wijken scored)", f"{overall:.3f}", ">= 0.9",
         overall >= 0.9),
        *((f"  domain {d}", f"{r:.3f}", "", True) for d, r in rho.items()),
        ("round wall time with joint indicators", f"{res.timings['round']:.1f} s", "< 120 s",
         res.timings["round"] < 120),
        ("cells compared / suppressed", f"{len(cmp):,} / {int(index['suppressed'].sum()):,}", "", True),
    ]
    for what, measured, target, ok in rows:
        table.add_row(what, measured, target, "yes" if ok else "[red]NO[/]")
    console.print(table)



if __name__ == "__main__":
    main()
