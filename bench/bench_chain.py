"""The cost of each extra holder in a chain: cumulative risk over 2, 3, 4 and 5 holders.

The synthetic federation on Zwolle's 2014 geography, split over five holders (gemeente BRP,
social domain, GGD, school, leerplicht: `synth/holders.py`), runs as separate processes with
2048-bit Paillier. Each round asks the first k holders of the chain one indicator each and
counts how many of those k attributes each child has (a count joint, every holder a hop). The
benchmark prints each round's wall time, the time each extra holder adds, and the noise SD of
one level count (every node adds a noise share, so the variance grows with k).

    .venv/bin/python bench/bench_chain.py [--scale 0.25] [--repeat 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from wijkindex.clients import AggregatorClient
from wijkindex.federation import lay_out, round_spec, start_processes
from wijkindex.geography import load_zwolle
from wijkindex.synth.generator import generate_federation
from wijkindex.synth.holders import FIVE_HOLDERS, five_holders

console = Console(width=120)
CHAIN = [("gemeente", "eenoudergezin"), ("sociaal-domein", "bijstand"), ("ggd", "psychosociale_problemen"),
         ("school", "onderwijsachterstand"), ("leerplicht", "verzuim")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=0.25, help="population fraction of Zwolle 2014")
    ap.add_argument("--repeat", type=int, default=2, help="rounds per chain length (for the spread)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        info = generate_federation(root / "three", seed=5, scale=args.scale, geography=load_zwolle())
        five = five_holders(info, root / "five")
        fed = lay_out(root / "run", five.out_dir, nodes=tuple(FIVE_HOLDERS), paillier_bits=2048, poll_seconds=0.5,
                      privacy_total=1000.0)
        procs = start_processes(fed)
        rows = []
        try:
            with AggregatorClient(fed.address, fed.credentials("coordinator")) as client:
                for k in range(2, len(CHAIN) + 1):
                    times, sds = [], []
                    for rep in range(args.repeat):
                        holders = CHAIN[:k]
                        spec = round_spec(info.period, info.gemeente_code, {h: [i] for h, i in holders},
                                          round_id=f"chain-{k}-{rep}",
                                          cumulative={"risico": [f"{h}:{i}" for h, i in holders]})
                        t = time.perf_counter()
                        rid = client.submit_round(spec)
                        status = client.wait_round(rid, timeout=1800)
                        times.append(time.perf_counter() - t)
                        procs.check_alive()
                        if status.state != "completed":
                            raise SystemExit(f"round {rid} {status.state}: {status.reason}")
                        sds.append(sum(2 * c.joint_scale ** 2 for c in status.costs) ** 0.5)
                    rows.append((k, times, sds[0]))
        finally:
            procs.stop()
    table = Table(title=f"chain length: cumulative risk over k holders ({info.n_children:,} children, "
                        f"2048-bit Paillier, {args.repeat} rounds each)")
    for col in ("holders in the chain", "round wall time", "added by this holder", "noise SD of a level count"):
        table.add_column(col)
    prev = None
    for k, times, sd in rows:
        mean = statistics.mean(times)
        spread = f" ± {statistics.stdev(times):.1f}" if len(times) > 1 else ""
        table.add_row(f"{k}: " + " -> ".join(h for h, _ in CHAIN[:k]), f"{mean:.1f} s{spread}",
                      f"{mean - prev:+.1f} s" if prev is not None else "", f"{sd:.1f}")
        prev = mean
    console.print(table)
    console.print(f"peak memory: " + ", ".join(f"{n} {r / 2**20:,.0f} MiB" for n, r in sorted(procs.peak_rss.items())))


if __name__ == "__main__":
    main()
