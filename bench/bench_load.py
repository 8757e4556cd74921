"""Load: a Zwolle-size round while 100 researcher clients read results from the same aggregator.

The aggregator and three nodes run as separate processes (as in the demo). A first round gives
the researchers an index to read; then the next round runs while 100 researcher clients, each
on its own mutual-TLS channel, list rounds and fetch that index as fast as they can. Prints
the round's wall time (and so rounds per minute), RPC counts, p50/p99 latency per RPC and the
peak memory of every process.

    .venv/bin/python bench/bench_load.py [--scale 1.0] [--clients 100]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from wijkindex.clients import AggregatorClient
from wijkindex.federation import lay_out, round_spec, start_processes
from wijkindex.synth.generator import generate_federation

console = Console(width=120)


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) >= 2 else (values[0] if values else float("nan"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--clients", type=int, default=100)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        console.print("generating the federation and starting the aggregator and three nodes ...")
        info = generate_federation(Path(tmp) / "federation", seed=2014, scale=args.scale)
        fed = lay_out(Path(tmp) / "fed", info.out_dir, nodes=tuple(info.holders), privacy_total=10.0,
                      poll_seconds=1.0)
        procs = start_processes(fed)
        try:
            with AggregatorClient(fed.address, fed.credentials("coordinator"), timeout=120) as c:
                first = c.submit_round(round_spec(info.period, info.gemeente_code, info.holders, round_id="load-1",
                                                  fuzzy=info.fuzzy))
                c.wait_round(first, timeout=1800)
            console.print("first round completed; starting the measured round with "
                          f"{args.clients} researchers reading")

            lat: dict[str, list[float]] = {"ListRounds": [], "GetIndex": []}
            errors: list[str] = []
            stop = threading.Event()
            lock = threading.Lock()

            def reader() -> None:
                with AggregatorClient(fed.address, fed.credentials("researcher"), timeout=60) as r:
                    while not stop.is_set():
                        for name, call in (("ListRounds", r.list_rounds), ("GetIndex", lambda: r.get_index(first))):
                            t = time.perf_counter()
                            try:
                                call()
                            except Exception as exc:  # noqa: BLE001 - counted and shown, not hidden
                                with lock:
                                    errors.append(f"{name}: {exc}")
                                continue
                            with lock:
                                lat[name].append(time.perf_counter() - t)

            threads = [threading.Thread(target=reader, daemon=True) for _ in range(args.clients)]
            for t in threads:
                t.start()
            t0 = time.perf_counter()
            with AggregatorClient(fed.address, fed.credentials("coordinator"), timeout=120) as c:
                rid = c.submit_round(round_spec(info.period, info.gemeente_code, info.holders, round_id="load-2",
                                                fuzzy=info.fuzzy))
                status = c.wait_round(rid, timeout=1800)
            wall = time.perf_counter() - t0
            stop.set()
            for t in threads:
                t.join(timeout=60)
            peak = dict(procs.peak_rss)
        finally:
            procs.stop()

    table = Table(title=f"load: one round ({info.n_children:,} children) while {args.clients} researchers read")
    for col in ("what", "measured", "target", "met"):
        table.add_column(col)
    rows = [("round state", status.state, "completed", status.state == "completed"),
            ("round wall time under load", f"{wall:.1f} s", "", True),
            ("rounds per minute", f"{60 / wall:.2f}", "", True)]
    for name, v in lat.items():
        rows.append((f"{name}: calls / p50 / p99", f"{len(v):,} / {1000 * _pct(v, 50):.0f} ms / "
                     f"{1000 * _pct(v, 99):.0f} ms", "", True))
    rows.append(("researcher RPC errors", f"{len(errors)}" + (f" (first: {errors[0][:60]})" if errors else ""),
                 "0", not errors))
    for name, rss in sorted(peak.items()):
        rows.append((f"peak memory: {name}", f"{rss / 2**20:,.0f} MiB", "< 1,024 MiB", rss < 2**30))
    for what, measured, target, ok in rows:
        table.add_row(what, measured, target, ("yes" if ok else "[red]NO[/]") if target else "")
    console.print(table)


if __name__ == "__main__":
    main()
