"""Speed and memory of a linkage round, on the full Zwolle-size federation.

Prints: pseudonyms per second, sealed-spine children per second (one core, and every
core), the wall time of a round of the marginal indicators and of a round with joint
indicators and cumulative risk, and the peak memory of every process, each next to its
target. Run:  .venv/bin/python bench/bench_round.py [--scale 1.0]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from wijkindex.linkage.bsn import random_bsn
from wijkindex.linkage.pseudonym import LinkageSecret, Pseudonymiser, RoundKey
from wijkindex.protocol.packing import PackingLayout
from wijkindex.protocol.paillier import generate_keypair
from wijkindex.protocol import sealing
from wijkindex.protocol.sealing import SpineSealer

console = Console()


def bench_pseudonyms(n: int = 500_000) -> float:
    rng = random.Random(1)
    bsns = [random_bsn(rng) for _ in range(n)]
    p = Pseudonymiser(RoundKey.derive(LinkageSecret.generate(), "bench"))
    t = time.perf_counter()
    p.pseudonymise_many(bsns)
    return n / (time.perf_counter() - t)


def bench_sealing(n: int = 4_000, bits: int = 2048, n_cells: int = 48, workers: int = 1) -> tuple[float, float]:
    """Children sealed per second with ``workers`` processes (1: the per-core figure), once the
    processes and their fixed-base tables are up (a node builds them once per round key, while it
    reads its data); and the seconds that start-up took."""
    os.environ["WIJKINDEX_WORKERS"] = str(workers)
    try:
        key = generate_keypair(bits)
        layout = PackingLayout.for_key(n_cells, key.public_key.bits)
        cells = [random.randrange(n_cells) for _ in range(n)]
        sealer = SpineSealer(key.public_key, layout)
        t = time.perf_counter()
        if workers > 1:
            list(sealing._pool(key.public_key).map(sealing._init_worker, [key.public_key.to_bytes()] * 4 * workers))
        else:
            sealing._encryptor(key.public_key)
        start_up = time.perf_counter() - t
        t = time.perf_counter()
        sealer.seal_cells(cells)
        return n / (time.perf_counter() - t), start_up
    finally:
        sealing.close_pool()
        os.environ.pop("WIJKINDEX_WORKERS", None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="population fraction of the demo round")
    ap.add_argument("--skip-round", action="store_true", help="only the primitive benchmarks")
    args = ap.parse_args()

    rows: list[tuple[str, str, str, bool]] = []
    rate = bench_pseudonyms()
    rows.append(("pseudonymisation (1 core)", f"{rate:,.0f} identifiers/s", ">= 400,000/s", rate >= 400_000))
    rate, start_up = bench_sealing()
    rows.append(("sealed spine, 2048-bit Paillier (1 core)", f"{rate:,.0f} children/s", ">= 1,000/s", rate >= 1_000))
    rows.append(("  its fixed-base table, built once per round key", f"{start_up:.1f} s", "", True))
    cores = os.cpu_count() or 1
    rate, start_up = bench_sealing(n=8_000, workers=cores)
    rows.append((f"sealed spine, every core ({cores} processes)", f"{rate:,.0f} children/s", "", True))
    rows.append(("  starting the processes and their tables", f"{start_up:.1f} s", "", True))

    if not args.skip_round:
        from wijkindex.demo import run_demo

        with tempfile.TemporaryDirectory() as tmp:
            res = run_demo(Path(tmp) / "demo", scale=args.scale, years=2, console=Console(stderr=True, quiet=True))
        rows.append((f"round of the 12 marginal indicators ({res.n_children:,} children)",
                     f"{res.timings['marginal_round']:.1f} s", "< 60 s", res.timings["marginal_round"] < 60))
        rows.append((f"demo round wall time ({res.n_children:,} children, 12 indicators, 4 joint, "
                     "cumulative risk)", f"{res.timings['round']:.1f} s", "< 120 s", res.timings["round"] < 120))
        rows.append(("whole demo, 2 periods (synth + PKI + processes + rounds + report)", f"{res.timings['total']:.1f} s",
                     "", True))
        for name, rss in sorted(res.peak_rss.items()):
            rows.append((f"peak memory: {name}", f"{rss / 2**20:,.0f} MiB", "< 1,024 MiB", rss < 2**30))

    table = Table(title="wijkindex round benchmark (this machine)")
    for col in ("what", "measured", "target", "met"):
        table.add_column(col)
    for what, measured, target, ok in rows:
        table.add_row(what, measured, target, "yes" if ok else "[red]NO[/]")
    console.print(table)


if __name__ == "__main__":
    main()
