"""A whole federation on one machine: the folder layout, every party's config, its processes.

Used by ``wijkindex demo``, the end-to-end tests and the benchmarks, so all three run
the same configuration a real deployment would, only on loopback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import grpc
import psutil
import tomli_w
from grpc_health.v1 import health_pb2, health_pb2_grpc

from wijkindex.catalogue import scope_tables
from wijkindex.errors import WijkindexError
from wijkindex.linkage.pseudonym import LinkageSecret
from wijkindex.security.pki import PartyCredentials, init_pki
from wijkindex.security.tls import secure_channel

DEFAULT_NODES = ("gemeente", "ggd", "school")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class LocalFederation:
    root: Path
    address: str
    federation_dir: Path
    pki_dir: Path
    aggregator_config: Path
    node_configs: dict[str, Path]
    coordinator_config: Path
    researcher_config: Path

    def credentials(self, party: str) -> PartyCredentials:
        return PartyCredentials.from_dir(self.pki_dir, party)


def _write_toml(path: Path, data: Mapping[str, object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps(dict(data)), encoding="utf-8")
    return path


def _tls(pki_dir: Path, party: str, base: Path) -> dict[str, str]:
    rel = lambda p: os.path.relpath(p, base)  # noqa: E731 - configs carry paths relative to themselves
    return {"cert": rel(pki_dir / party / "cert.pem"), "key": rel(pki_dir / party / "key.pem"),
            "ca": rel(pki_dir / party / "ca.pem")}


def lay_out(root: Path, federation_dir: Path, *, nodes: Sequence[str] = DEFAULT_NODES,
            port: int | None = None, privacy_total: float = 10.0, paillier_bits: int = 2048,
            on_invalid: str = "exclude", geography_dir: Path | None = None, gemeente: str | None = None,
            poll_seconds: float = 5.0,
            host: str = "127.0.0.1", data_of: Mapping[str, Path] | None = None,
            gemeenten: Sequence[str] = ()) -> LocalFederation:
    """Create PKI, linkage secret and the config of every party under ``root``; the aggregator
    listens on, and everyone dials, ``host`` (also in the aggregator's certificate). A node's
    data is ``federation_dir/<node>`` unless ``data_of`` names another folder."""
    root = Path(root).resolve()
    federation_dir = Path(federation_dir).resolve()
    pki_dir = root / "pki"
    init_pki(pki_dir, nodes=nodes, hostnames=tuple(dict.fromkeys((host, "localhost", "127.0.0.1", "::1"))))
    secret_path = root / "secrets" / "linkage.key"
    secret_path.parent.mkdir(parents=True, exist_ok=True)
    LinkageSecret.generate().write(secret_path)
    address = f"{host}:{port or free_port()}"

    agg_dir = root / "aggregator"
    agg = {"version": 1, "listen": address, "database": "aggregator.sqlite", "nodes": list(nodes),
           "paillier_bits": paillier_bits, "tls": _tls(pki_dir, "aggregator", agg_dir)}
    if geography_dir is not None:  # a folder in Zwolle-2014 form, or a wijk- en buurtkaart file (with its gemeente)
        key = "geography" if Path(geography_dir).is_file() else "geography_dir"
        agg[key] = os.path.relpath(Path(geography_dir).resolve(), agg_dir)
    if gemeente is not None:  # a CBS gemeente from the shipped 2024 wijken, or of the geography file
        agg["gemeente"] = gemeente
    elif gemeenten:  # several (a region's)
        agg["gemeenten"] = list(gemeenten)
    agg_cfg = _write_toml(agg_dir / "aggregator.toml", agg)

    node_cfgs = {}
    for name in nodes:
        d = root / "nodes" / name
        node_cfgs[name] = _write_toml(d / "node.toml", {
            "version": 1, "name": name, "aggregator": address,
            "data_dir": os.path.relpath(Path((data_of or {}).get(name, federation_dir / name)).resolve(), d),
            "linkage_secret": os.path.relpath(secret_path, d), "ledger": "ledger.sqlite",
            "privacy_total": privacy_total, "on_invalid": on_invalid, "poll_seconds": poll_seconds,
            **({"test_only_small_keys": True} if paillier_bits < 2048 else {}),
            "tls": _tls(pki_dir, name, d)})
    clients = {}
    for party in ("coordinator", "researcher"):
        clients[party] = _write_toml(root / f"{party}.toml", {
            "version": 1, "aggregator": address, "tls": _tls(pki_dir, party, root)})
    return LocalFederation(root, address, federation_dir, pki_dir, agg_cfg, node_cfgs,
                           clients["coordinator"], clients["researcher"])


def round_spec(period: int, area: str, indicators: Mapping[str, Sequence[str]], *, epsilon: float = 1.0,
               spine: str = "gemeente", min_cell_size: int = 10, deadline_seconds: int = 900,
               round_id: str | None = None, joint: Mapping[str, Sequence[str]] | None = None,
               cumulative: Mapping[str, Sequence[str]] | None = None, fuzzy: Sequence[str] = (),
               spines: Mapping[str, str] | None = None, area_name: str = "") -> str:
    """A round spec asking every node for all of its indicators (and the joint and cumulative ones)
    at one privacy loss; the ``fuzzy`` nodes link their records without a BSN on identifiers.
    ``area`` is a gemeente (with its ``spine`` node) or a region (``spines``: gemeente -> node)."""
    from wijkindex.protocol.spec import SPEC_VERSION

    spec: dict[str, object] = {
        "version": SPEC_VERSION, "period": period, "area": area, "level": "wijk",
        "age_bands": ["0-3", "4-11", "12-17"], "min_cell_size": min_cell_size,
        "deadline_seconds": deadline_seconds,
        **({"spines": dict(spines)} if spines else {"spine": spine}),
        **({"area_name": area_name} if area_name else {}),
        "nodes": {n: {"privacy_loss": epsilon, "indicators": list(inds), **({"fuzzy": True} if n in fuzzy else {})}
                  for n, inds in indicators.items()},
    }
    if round_id:
        spec["round_id"] = round_id
    joints = [{"name": name, "attributes": list(attrs)} for name, attrs in (joint or {}).items()]
    joints += [{"name": name, "kind": "count", "attributes": list(attrs)} for name, attrs in (cumulative or {}).items()]
    if joints:
        spec["joint"] = joints
    asked = {i for inds in indicators.values() for i in inds}
    asked |= {a.split(":", 1)[1] for attrs in [*(joint or {}).values(), *(cumulative or {}).values()] for a in attrs}
    if scopes := scope_tables(sorted(asked)):
        spec["indicator"] = scopes
    return tomli_w.dumps(spec)


def wait_healthy(address: str, creds: PartyCredentials, timeout: float = 60.0, *, crl: Path | None = None) -> None:
    """Block until the aggregator's standard gRPC health service answers SERVING.

    A server that answers with a certificate that is not the aggregator's (or is revoked on
    ``crl``) raises CertificateError at once: waiting would not make it the right server."""
    end = time.monotonic() + timeout
    last = ""
    while time.monotonic() < end:
        try:
            with secure_channel(address, creds, crl=crl, timeout=max(0.5, min(5.0, end - time.monotonic()))) as channel:
                reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
        except grpc.RpcError as exc:
            last = exc.details() or exc.code().name
        time.sleep(0.2)
    raise WijkindexError(f"aggregator at {address} not healthy after {timeout:.0f} s ({last})")


@dataclass
class Processes:
    """The federation's services as separate OS processes, with their peak memory watched."""

    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    peak_rss: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _watcher: threading.Thread | None = None

    def start(self, name: str, args: list[str], log_path: Path) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        out = open(log_path, "ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.procs[name] = subprocess.Popen([sys.executable, "-m", "wijkindex", *args], stdout=out,
                                            stderr=subprocess.STDOUT, env=env)
        self.peak_rss.setdefault(name, 0)
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, daemon=True)
            self._watcher.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.1):
            for name, p in list(self.procs.items()):
                try:
                    rss = psutil.Process(p.pid).memory_info().rss
                except psutil.Error:
                    continue
                self.peak_rss[name] = max(self.peak_rss.get(name, 0), rss)

    def check_alive(self) -> None:
        for name, p in self.procs.items():
            if p.poll() is not None:
                raise WijkindexError(f"process {name} exited with code {p.returncode}; see its log")

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        self._stop.set()


def start_processes(fed: LocalFederation) -> Processes:
    """Aggregator first (waits for health), then one process per node."""
    procs = Processes()
    logs = fed.root / "logs"
    try:
        procs.start("aggregator", ["aggregator", "serve", "--config", str(fed.aggregator_config)],
                    logs / "aggregator.log")
        wait_healthy(fed.address, fed.credentials("coordinator"))
        for name, cfg in fed.node_configs.items():
            procs.start(f"node-{name}", ["node", "serve", "--config", str(cfg)], logs / f"node-{name}.log")
    except BaseException:
        procs.stop()
        raise
    return procs
