"""Fuzzy linkage on FEBRL4 and on the project's Dutch synthetic records, next to known baselines.

Prints, for FEBRL4 (5,000 + 5,000 records, 5,000 true links, soc_sec_id dropped): precision,
recall, F1 and throughput of wijkindex's hardened encodings with the automatic threshold (EM,
one-to-one: ``wijkindex linkage evaluate``) and with the round's rule (each record's best
candidate at a fixed threshold), and in the same run (a) clkhash + anonlink with clkhash's
tutorial schema at threshold 0.8 and (b) Splink's FEBRL4 example settings on the clear data.
Then the same figures for the GGD's survey records (no BSN; typos, swapped day/month, moved
postcodes, tussenvoegsel variants) linked to the gemeente's spine of the Zwolle-size synthetic
federation, by the round's rule (``link_without_bsn``) and, for comparison, by EM + one-to-one.

The baselines need packages that conflict with ours (clkhash pins an old cryptography), so
they run in their own virtualenv; the README's benchmark command creates it:

    python3 -m venv .venv-bench && .venv-bench/bin/pip install -q clkhash==0.18.3 anonlink==0.15.3 \\
        splink==5.0.0 recordlinkage==0.16 duckdb 'setuptools<81'
    .venv/bin/python bench/bench_linkage.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from wijkindex.linkage.encoding import FEBRL_SCHEMA, Encoder
from wijkindex.linkage.evaluate import evaluate_frames, precision_recall_f1, read_table
from wijkindex.linkage.fuzzy import encode_identifiers, link_without_bsn, spine_candidates
from wijkindex.linkage.matching import FEBRL_THRESHOLD, link_best, match
from wijkindex.linkage.pseudonym import EncodingKey

ROOT = Path(__file__).resolve().parent.parent
console = Console(width=150)


def febrl4(baseline_python: Path, work: Path) -> tuple[list[list[str]], dict[str, float]]:
    if not baseline_python.exists():
        sys.exit(f"{baseline_python} not found: create the baselines' virtualenv first (see this file's docstring)")
    t = time.perf_counter()
    subprocess.run([str(baseline_python), str(ROOT / "bench" / "comparators.py"), "--out-dir", str(work)],
                   check=True, stderr=subprocess.DEVNULL)
    console.print(f"baselines ran in {time.perf_counter() - t:.0f} s")
    a = read_table(work / "febrl4_a.csv", [*FEBRL_SCHEMA.columns, "entity_id"])
    b = read_table(work / "febrl4_b.csv", [*FEBRL_SCHEMA.columns, "entity_id"])
    runs = [evaluate_frames(a, b, a["entity_id"].to_numpy(), b["entity_id"].to_numpy(), FEBRL_SCHEMA)[0]
            for _ in range(5)]  # five keys: F1 varies a little with the key
    ev = runs[0]
    enc_s = statistics.median(r.encode_seconds for r in runs)
    match_s = statistics.median(r.match_seconds for r in runs)
    f1s = [r.f1 for r in runs]
    rows = [["wijkindex (keyed, Rule 90, balanced; EM threshold)", f"{ev.precision:.4f}", f"{ev.recall:.4f}",
             f"{min(f1s):.4f}-{max(f1s):.4f}", f"{(ev.n_a + ev.n_b) / enc_s:,.0f}", f"{ev.comparisons / match_s:,.0f}",
             f"{enc_s + match_s:.2f}"]]
    ent_a, ent_b = a["entity_id"].to_numpy(), b["entity_id"].to_numpy()
    fixed = []
    for _ in range(5):  # the round's rule: each record's best candidate at the schema's fixed threshold
        encoder = Encoder(EncodingKey.random(), FEBRL_SCHEMA)
        t0 = time.perf_counter()
        res = link_best(encoder.encode(a), encoder.encode(b), threshold=FEBRL_THRESHOLD)
        fixed.append((precision_recall_f1(int((ent_a[res.pairs[:, 0]] == ent_b[res.pairs[:, 1]]).sum()),
                                          len(res.pairs), ev.true_links), time.perf_counter() - t0))
    rows.append([f"wijkindex, round rule (best candidate >= {FEBRL_THRESHOLD}; 5 keys)",
                 f"{min(f[0][0] for f in fixed):.4f}-{max(f[0][0] for f in fixed):.4f}",
                 f"{min(f[0][1] for f in fixed):.4f}-{max(f[0][1] for f in fixed):.4f}",
                 f"{min(f[0][2] for f in fixed):.4f}-{max(f[0][2] for f in fixed):.4f}", "", "",
                 f"{statistics.median(f[1] for f in fixed):.2f}"])
    blocked, _ = evaluate_frames(a, b, a["entity_id"].to_numpy(), b["entity_id"].to_numpy(), FEBRL_SCHEMA, block=True)
    rows.append(["wijkindex, LSH blocking (used above 400M pairs)", f"{blocked.precision:.4f}",
                 f"{blocked.recall:.4f}", f"{blocked.f1:.4f}", f"{blocked.encodings_per_second:,.0f}",
                 f"{blocked.comparisons_per_second:,.0f} ({blocked.comparisons:,} pairs)",
                 f"{blocked.encode_seconds + blocked.match_seconds:.2f}"])
    for res in json.loads((work / "baselines.json").read_text()):
        p, r, f = precision_recall_f1(res["true_positives"], res["predicted"], res["true_links"])
        enc = f"{res['n_records'] / res['encode_s']:,.0f}" if res["encode_s"] else "(clear data)"
        rows.append([res["label"], f"{p:.4f}", f"{r:.4f}", f"{f:.4f}", enc,
                     f"{res['n_comparisons'] / res['match_s']:,.0f}", f"{res['encode_s'] + res['match_s']:.2f}"])
    figures = {"f1_min": min(f1s), "enc_per_s": (ev.n_a + ev.n_b) / enc_s,
               "cmp_per_s": ev.comparisons / match_s, "wall": enc_s + match_s,
               "fixed_f1_min": min(f[0][2] for f in fixed)}
    return rows, figures


def result_pairs(links) -> int:
    return links.result.n_comparisons if links.result is not None else 0


def dutch(scale: float, work: Path) -> tuple[list[list[str]], dict[str, float]]:
    from wijkindex.synth.generator import IDENTIFIERS, generate_federation

    info = generate_federation(work / "federation", seed=2014, scale=scale)
    d = info.out_dir
    brp = pd.read_csv(d / "gemeente" / "brp.csv", dtype=str, keep_default_na=False)
    jgz = pd.read_csv(d / "ggd" / "jgz.csv", dtype=str, keep_default_na=False)
    truth = pd.read_csv(d / "truth" / f"ggd_{info.period}_true_bsn.csv", dtype=str, keep_default_na=False)
    survey = jgz[jgz["bsn"] == ""].reset_index(drop=True)
    true_bsn = survey["jgz_id"].map(dict(zip(truth["jgz_id"], truth["bsn"]))).to_numpy()
    key = EncodingKey.random()
    t0 = time.perf_counter()
    spine = spine_candidates(brp, IDENTIFIERS, key)
    t1 = time.perf_counter()
    links = link_without_bsn(survey, IDENTIFIERS, spine, key)  # the round's rule: encodes, then matches
    t2 = time.perf_counter()
    spine_bsn = brp["bsn"].to_numpy()
    right = int((true_bsn[links.record_rows] == spine_bsn[links.spine_rows]).sum())
    linkable = int(pd.Series(true_bsn).isin(set(brp["bsn"])).sum())
    p, r, f = precision_recall_f1(right, len(links.record_rows), linkable)
    pairs = len(survey) * len(brp)
    label = f"GGD survey records -> spine ({len(survey):,} x {len(brp):,}; {linkable:,} in the spine)"
    rows = [[f"{label}: round rule (one group per block, best candidate >= {links.threshold}; "
             f"{len(links.ambiguous_keys)} groups ambiguous)", f"{p:.4f}", f"{r:.4f}", f"{f:.4f}",
             f"{len(brp) / (t1 - t0):,.0f}", f"{result_pairs(links):,} pairs in blocks", f"{t2 - t0:.2f}"]]
    whole = link_best(encode_identifiers(survey, IDENTIFIERS, key), spine.encodings)  # the rule before 2026-12-02
    w_right = int((true_bsn[whole.pairs[:, 0]] == spine_bsn[whole.pairs[:, 1]]).sum())
    wp, wr, wf = precision_recall_f1(w_right, len(whole.pairs), linkable)
    rows.append(["  the same, best candidate in the whole spine (the old rule: its sensitivity has no bound)",
                 f"{wp:.4f}", f"{wr:.4f}", f"{wf:.4f}", "", "", ""])
    t3 = time.perf_counter()
    em = match(encode_identifiers(survey, IDENTIFIERS, key), spine.encodings)  # for comparison: EM + one-to-one
    t4 = time.perf_counter()
    em_right = int((true_bsn[em.pairs[:, 0]] == spine_bsn[em.pairs[:, 1]]).sum())
    ep, er, ef = precision_recall_f1(em_right, len(em.pairs), linkable)
    rows.append([f"  the same, EM threshold ({em.threshold:.3f}) + one-to-one (evaluation only)", f"{ep:.4f}",
                 f"{er:.4f}", f"{ef:.4f}", "", f"{pairs / (t4 - t3):,.0f}", f"{t4 - t3 + t1 - t0:.2f}"])
    return rows, {"f1": f, "em_f1": ef, "old_rule_f1": wf}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baselines", type=Path, default=ROOT / ".venv-bench" / "bin" / "python",
                    help="Python of the virtualenv with clkhash, anonlink, splink and recordlinkage")
    ap.add_argument("--scale", type=float, default=1.0, help="Size of the Dutch synthetic federation (1.0: Zwolle)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows, fig = febrl4(args.baselines, Path(tmp) / "febrl")
        drow, dfig = dutch(args.scale, Path(tmp))
    cols = ["linker", "precision", "recall", "F1", "encodings/s", "comparisons/s", "wall s"]
    table = Table(title="FEBRL4 (5,000 x 5,000, soc_sec_id dropped)")
    for c in cols:
        table.add_column(c, justify="left" if c == "linker" else "right")
    for r in rows:
        table.add_row(*r)
    console.print(table)
    table = Table(title="Dutch synthetic federation (wijkindex encodings)")
    for c in cols:
        table.add_column(c, justify="left" if c == "linker" else "right")
    for r in drow:
        table.add_row(*r)
    console.print(table)
    checks = [("FEBRL4 F1 (worst of 5 keys)", f"{fig['f1_min']:.4f}", ">= 0.995", fig["f1_min"] >= 0.995),
              ("encodings per second", f"{fig['enc_per_s']:,.0f}", ">= 50,000", fig["enc_per_s"] >= 50_000),
              ("comparisons per second", f"{fig['cmp_per_s']:,.0f}", ">= 20,000,000", fig["cmp_per_s"] >= 20e6),
              ("whole 5,000 x 5,000 linkage", f"{fig['wall']:.2f} s", "< 5 s", fig["wall"] < 5),
              ("FEBRL4 F1, round rule (worst of 5 keys)", f"{fig['fixed_f1_min']:.4f}", "", True),
              ("Dutch survey records F1, round rule", f"{dfig['f1']:.4f}", "", True),
              ("Dutch survey records F1, EM + one-to-one", f"{dfig['em_f1']:.4f}", "", True),
              ("Dutch survey records F1, the old unbounded rule", f"{dfig['old_rule_f1']:.4f}", "", True)]
    table = Table(title="targets (2-core machine)")
    for c in ("figure", "measured", "target", "met"):
        table.add_column(c)
    for name, value, target, ok in checks:
        table.add_row(name, value, target, ("[green]yes[/]" if ok else "[red]NO[/]") if target else "")
    console.print(table)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
