"""The real services on separate hosts: each party in its own network namespace (ip netns), the
namespaces joined by veth pairs to a bridge, every party a separate process started with the
CLI. A round runs end to end across the network; nodes open no port.

Needs root and iproute2 (CI runs as root); skipped, with the reason, where they are missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import pandas as pd
import pytest

from wijkindex.federation import lay_out, round_spec

pytestmark = pytest.mark.slow
NET = "10.77.0"
HOSTS = {"aggregator": 1, "gemeente": 2, "ggd": 3, "school": 4, "client": 5}


def _ip(*args: str, ns: str | None = None) -> None:
    cmd = ["ip", "netns", "exec", ns, *args] if ns else list(args)
    subprocess.run(cmd, check=True, capture_output=True, text=True)


def _netns_available() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    if not shutil.which("ip"):
        return "needs iproute2 (ip)"
    probe = f"wiprobe{os.getpid()}"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode:
        return f"ip netns add refused: {r.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


@pytest.fixture(scope="module")
def network() -> Iterator[dict[str, str]]:
    """One namespace per host and one switch namespace holding the bridge; name -> namespace."""
    why = _netns_available()
    if why:
        pytest.skip(f"multi-host test: {why}")
    tag = f"{os.getpid() % 10000}"
    switch = f"wisw{tag}"
    spaces = {h: f"wi{h[:3]}{tag}" for h in HOSTS}
    try:
        _ip("ip", "netns", "add", switch)
        _ip("ip", "link", "add", "br0", "type", "bridge", ns=switch)
        _ip("ip", "link", "set", "br0", "up", ns=switch)
        for host, ns in spaces.items():
            _ip("ip", "netns", "add", ns)
            _ip("ip", "link", "add", f"v{tag}{HOSTS[host]}", "type", "veth", "peer", "name", f"p{tag}{HOSTS[host]}")
            _ip("ip", "link", "set", f"v{tag}{HOSTS[host]}", "netns", ns)
            _ip("ip", "link", "set", f"p{tag}{HOSTS[host]}", "netns", switch)
            _ip("ip", "link", "set", f"p{tag}{HOSTS[host]}", "master", "br0", ns=switch)
            _ip("ip", "link", "set", f"p{tag}{HOSTS[host]}", "up", ns=switch)
            _ip("ip", "addr", "add", f"{NET}.{HOSTS[host]}/24", "dev", f"v{tag}{HOSTS[host]}", ns=ns)
            _ip("ip", "link", "set", f"v{tag}{HOSTS[host]}", "up", ns=ns)
            _ip("ip", "link", "set", "lo", "up", ns=ns)
        yield {**spaces, "_switch": switch, "_tag": tag}
    finally:
        for ns in [*spaces.values(), switch]:  # deleting a namespace removes its veth ends
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def _cli(ns: str, *args: str) -> list[str]:
    return ["ip", "netns", "exec", ns, sys.executable, "-m", "wijkindex", *args]


def test_a_round_across_network_namespaces(network: dict[str, str], tmp_path: Path, small_federation) -> None:
    fed = lay_out(tmp_path / "fed", small_federation.out_dir, host=f"{NET}.{HOSTS['aggregator']}", port=50051,
                  paillier_bits=1024, poll_seconds=1.0)
    _run_federation(network, tmp_path, small_federation, fed)


def test_a_round_survives_a_node_cut_off_for_a_while(network: dict[str, str], tmp_path: Path,
                                                      small_federation) -> None:
    """The GGD's link goes down right after the round starts and comes back 8 s later: the node
    reconnects with backoff by itself and the round completes."""
    fed = lay_out(tmp_path / "fed", small_federation.out_dir, host=f"{NET}.{HOSTS['aggregator']}", port=50052,
                  paillier_bits=1024, poll_seconds=1.0)
    port = f"p{network['_tag']}{HOSTS['ggd']}"

    def partition() -> None:
        _ip("ip", "link", "set", port, "down", ns=network["_switch"])
        threading.Timer(8.0, lambda: _ip("ip", "link", "set", port, "up", ns=network["_switch"])).start()

    elapsed = _run_federation(network, tmp_path, small_federation, fed, during_round=partition, port=50052)
    assert elapsed >= 8.0, "the round finished while the GGD was cut off: the partition did not bite"


def _run_federation(network: dict[str, str], tmp_path: Path, small_federation, fed, *,  # type: ignore[no-untyped-def]
                    during_round: Callable[[], None] | None = None, port: int = 50051) -> float:
    """Start every party in its namespace, run one round, export it; the round's wall time."""
    procs: list[subprocess.Popen] = []
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {**os.environ, "WIJKINDEX_WORKERS": "1"}

    def start(host: str, *args: str) -> None:
        out = open(logs / f"{host}.log", "w")
        procs.append(subprocess.Popen(_cli(network[host], *args), stdout=out, stderr=subprocess.STDOUT, env=env))

    try:
        start("aggregator", "aggregator", "serve", "--config", str(fed.aggregator_config))
        for n in ("gemeente", "ggd", "school"):
            start(n, "node", "serve", "--config", str(fed.node_configs[n]))
        client = network["client"]
        health = subprocess.run(_cli(client, "health", "--config", str(fed.researcher_config), "--timeout", "60"),
                                capture_output=True, text=True, env=env)
        assert health.returncode == 0, health.stdout + health.stderr + (logs / "aggregator.log").read_text()

        spec = tmp_path / "round.toml"
        spec.write_text(round_spec(small_federation.period, small_federation.gemeente_code, small_federation.holders,
                                   round_id="multihost-1", fuzzy=small_federation.fuzzy))
        starting = subprocess.Popen(_cli(client, "round", "start", "--spec", str(spec), "--config",
                                         str(fed.coordinator_config), "--wait"),
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        t0 = time.monotonic()
        if during_round:
            time.sleep(0.5)
            during_round()
        out_text, _ = starting.communicate(timeout=600)
        elapsed = time.monotonic() - t0
        started = subprocess.CompletedProcess(starting.args, starting.returncode, out_text, "")
        assert started.returncode == 0 and "completed" in started.stdout + started.stderr, \
            started.stdout + started.stderr + "".join(p.read_text()[-2000:] for p in logs.glob("*.log"))
        out = tmp_path / "results"
        export = subprocess.run(_cli(client, "results", "export", "multihost-1", "--out", str(out), "--config",
                                     str(fed.researcher_config)), capture_output=True, text=True, env=env)
        assert export.returncode == 0, export.stdout + export.stderr
        index = pd.read_csv(out / "index.csv")
        assert set(index["source"]) >= {"gemeente", "ggd", "school"}
        assert (out / "linkage.csv").exists()

        # the hosts really are apart: the client cannot reach the aggregator on its own loopback,
        # and no node listens on the federation's port (nodes dial out, they open none)
        probe = ("import socket,sys\ns=socket.socket();s.settimeout(2)\n"
                 f"sys.exit(s.connect_ex((sys.argv[1], {port})) != 0)")  # exit 0: it connected
        assert subprocess.run(["ip", "netns", "exec", client, sys.executable, "-c", probe, "127.0.0.1"]).returncode
        for n in ("gemeente", "ggd", "school"):
            assert subprocess.run(["ip", "netns", "exec", client, sys.executable, "-c", probe,
                                   f"{NET}.{HOSTS[n]}"]).returncode, f"node {n} listens on {port}"
        assert subprocess.run(["ip", "netns", "exec", client, sys.executable, "-c", probe,
                               f"{NET}.{HOSTS['aggregator']}"]).returncode == 0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
    # no secret reaches any log: not the linkage secret, not a private key
    secret = (fed.root / "secrets" / "linkage.key").read_text().split()[-1]  # the hex line, not the header
    keys = [line for k in fed.pki_dir.rglob("key.pem") for line in k.read_text().splitlines()
            if line and not line.startswith("-----")]
    text = "".join(p.read_text(errors="replace") for p in logs.glob("*.log"))
    assert text and secret not in text and secret[:16] not in text
    assert not any(line in text for line in keys)
    return elapsed
