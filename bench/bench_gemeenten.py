"""Load: one aggregator serving several gemeenten's rounds at once, three nodes each.

Ten synthetic gemeenten (Zwolle's real geography under ten gemeente codes: there is no other
real geography in ../shared/data), each with its own gemeente, GGD and school node as separate
processes (30 nodes), all talking to one aggregator. Every wave submits one round per gemeente at
once; the benchmark prints rounds per minute, the server-side p50/p99 latency of every RPC
(PollTask is a long poll and shown apart), and peak memory.

    .venv/bin/python bench/bench_gemeenten.py [--gemeenten 10] [--waves 3] [--scale 0.05]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import grpc
import psutil
from rich.console import Console
from rich.table import Table

from wijkindex.aggregator.server import start_aggregator
from wijkindex.clients import AggregatorClient
from wijkindex.config import load_aggregator_config
from wijkindex.security.auth import wrap_handler
from wijkindex.federation import Processes, lay_out, round_spec
from wijkindex.geography import load_zwolle
from wijkindex.synth.generator import generate_federation

console = Console(width=120)
HOLDERS = ("gemeente", "ggd", "school")


class Timer(grpc.ServerInterceptor):
    """Server-side duration of every call, per method."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = defaultdict(list)
        self.lock = threading.Lock()

    def intercept_service(self, continuation, details):  # type: ignore[no-untyped-def]
        handler = continuation(details)
        if handler is None:
            return None
        name = details.method.rsplit("/", 1)[-1]

        def timed(inner):  # type: ignore[no-untyped-def]
            def call(request, context):  # type: ignore[no-untyped-def]
                t = time.perf_counter()
                try:
                    return inner(request, context)
                finally:
                    with self.lock:
                        self.times[name].append(time.perf_counter() - t)
            return call

        if handler.unary_stream or handler.stream_stream:
            return handler  # streaming replies (relay fetch) are not timed
        return wrap_handler(handler, timed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gemeenten", type=int, default=10)
    ap.add_argument("--waves", type=int, default=3)
    ap.add_argument("--scale", type=float, default=0.05, help="children per gemeente, as a share of Zwolle's")
    args = ap.parse_args()
    zwolle = load_zwolle()
    geos = [zwolle, *(zwolle.renamed(f"GM{9001 + k:04d}", f"Gemeente {k + 2}") for k in range(args.gemeenten - 1))]
    os.environ["WIJKINDEX_WORKERS"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        console.print(f"generating {len(geos)} synthetic gemeenten (scale {args.scale}) ...")
        infos = [generate_federation(root / f"fed-{k}", seed=100 + k, scale=args.scale, geography=g)
                 for k, g in enumerate(geos)]
        names = [f"{h}-{k}" for k in range(len(geos)) for h in HOLDERS]
        fed = lay_out(root / "run", root, nodes=names, paillier_bits=2048, poll_seconds=1.0, privacy_total=100.0,
                      data_of={f"{h}-{k}": infos[k].out_dir / h for k in range(len(geos)) for h in HOLDERS})
        timer = Timer()
        agg = start_aggregator(load_aggregator_config(fed.aggregator_config), geography=geos, interceptors=(timer,))
        me = psutil.Process()
        peak = {"aggregator (this process)": 0}
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(0.2):
                peak["aggregator (this process)"] = max(peak["aggregator (this process)"], me.memory_info().rss)

        threading.Thread(target=watch, daemon=True).start()
        procs = Processes()
        try:
            for name in names:
                procs.start(name, ["node", "serve", "--config", str(fed.node_configs[name])],
                            root / "logs" / f"{name}.log")
            console.print(f"{len(names)} node processes and one aggregator; {args.waves} wave(s) of "
                          f"{len(geos)} concurrent rounds")
            states: dict[str, int] = defaultdict(int)
            t0 = time.perf_counter()
            with AggregatorClient(fed.address, fed.credentials("coordinator"), timeout=120) as c:
                for w in range(args.waves):
                    ids = []
                    for k, info in enumerate(infos):
                        holders = {f"{h}-{k}": inds for h, inds in info.holders.items()}
                        ids.append(c.submit_round(round_spec(
                            info.period, info.gemeente_code, holders, spine=f"gemeente-{k}", round_id=f"w{w}-g{k}",
                            fuzzy=[f"ggd-{k}"])))
                    for rid in ids:
                        try:
                            states[c.wait_round(rid, timeout=1800).state] += 1
                        except Exception as exc:  # noqa: BLE001 - a failed round is counted, not hidden
                            states[f"failed: {str(exc)[:50]}"] += 1
            elapsed = time.perf_counter() - t0
        finally:
            procs.stop()
            stop.set()
            agg.stop(grace=1.0)
        node_peak = max(procs.peak_rss.values()) if procs.peak_rss else 0

    table = Table(title=f"one aggregator, {len(geos)} gemeenten x 3 nodes, {args.waves * len(geos)} rounds")
    for col in ("what", "measured"):
        table.add_column(col)
    table.add_row("rounds", ", ".join(f"{n} {s}" for s, n in states.items()))
    table.add_row("rounds per minute", f"{args.waves * len(geos) / (elapsed / 60):.1f} ({elapsed:.0f} s in all)")
    for name, v in sorted(timer.times.items()):
        if len(v) < 2:
            continue
        q = statistics.quantiles(v, n=100)
        label = f"{name} (long poll, up to 1 s)" if name == "PollTask" else name
        table.add_row(f"{label}: calls / p50 / p99", f"{len(v):,} / {1000 * q[49]:.1f} ms / {1000 * q[98]:.1f} ms")
    table.add_row("peak memory: aggregator (this process)", f"{peak['aggregator (this process)'] / 2**20:,.0f} MiB")
    table.add_row("peak memory: largest node", f"{node_peak / 2**20:,.0f} MiB")
    console.print(table)


if __name__ == "__main__":
    main()
