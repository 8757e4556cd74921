"""Scale: the whole demo for one large gemeente (default Amsterdam, 99 CBS wijken, ~930,000 inhabitants).

Runs ``wijkindex demo --gemeente X --scale S`` in-process (synth, PKI, aggregator and three
node processes, three rounds, report) and prints the wall time of every phase and the peak
resident memory of every process: the aggregator and the nodes as the federation watched them,
and this process (the synthetic generator, the report) by its own maximum RSS.

    .venv/bin/python bench/bench_gemeente.py [--gemeente GM0363] [--scale 0.1] [--years 3] [--out DIR]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from wijkindex.demo import run_demo

PHASES = {"synth": "synthetic federation (in this process)", "marginal_round": "last earlier-period round",
          "round": "final round (joint + cumulative)", "total": "total, synth to report"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--gemeente", default="GM0363", help="CBS code or name [default: GM0363, Amsterdam]")
    ap.add_argument("--scale", type=float, default=0.1, help="share of the real children [default: 0.1]")
    ap.add_argument("--seed", type=int, default=2014)
    ap.add_argument("--years", type=int, default=3, help="periods: the earlier ones marginal, the last with joint "
                                                          "indicators [default: 3; 1 times the joint round alone]")
    ap.add_argument("--out", type=Path, default=None, help="keep the demo folder here (must be new or empty)")
    args = ap.parse_args()
    console = Console(width=110, stderr=True)
    with tempfile.TemporaryDirectory(prefix="bench-gemeente-") as tmp:
        out = args.out or Path(tmp) / "demo"
        t = time.perf_counter()
        r = run_demo(out, seed=args.seed, scale=args.scale, gemeente=args.gemeente, console=console, years=args.years)
        wall = time.perf_counter() - t
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    cells = r.index[r.index["wijk_code"].str.startswith("WK")]
    times = Table(title=f"{args.gemeente} at scale {args.scale}: {r.n_children:,} children, "
                        f"{cells['wijk_code'].nunique()} wijken in the index, round {r.round_id}")
    times.add_column("phase")
    times.add_column("wall time", justify="right")
    for key, label in PHASES.items():
        if key in r.timings:
            times.add_row(label, f"{r.timings[key]:.1f} s")
    times.add_row("run_demo call", f"{wall:.1f} s")
    mem = Table(title="peak resident memory per process")
    mem.add_column("process")
    mem.add_column("peak RSS", justify="right")
    for name, rss in sorted(r.peak_rss.items()):
        mem.add_row(name, f"{rss / 2**20:,.0f} MiB")
    mem.add_row("bench (synth, report)", f"{self_rss / 2**20:,.0f} MiB")
    out_console = Console(width=110)
    out_console.print(times)
    out_console.print(mem)


if __name__ == "__main__":
    main()
