"""Shared fixtures: a small synthetic federation served for real on loopback with mTLS.

The aggregator runs in this process (so a test can record what it receives) and each
node runs its real poll loop in a thread; every call crosses a real TLS socket.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import grpc
import pandas as pd
import pytest

from wijkindex.aggregator.server import RunningAggregator, start_aggregator
from wijkindex.clients import AggregatorClient
from wijkindex.config import load_aggregator_config, load_node_config
from wijkindex.federation import LocalFederation, lay_out, round_spec
from wijkindex.geography import Geography, load_zwolle
from wijkindex.nodes.node import Node
from wijkindex.synth.generator import FederationInfo, generate_federation

SCALE = 0.05  # about 1,350 children: every wijk populated, a round in seconds
TEST_BITS = 1024  # test-only key size: 2 ciphertexts per child, so the multi-ciphertext path runs


@pytest.fixture(scope="session")
def geography() -> Geography:
    return load_zwolle()


@pytest.fixture(scope="session")
def small_federation(tmp_path_factory: pytest.TempPathFactory, geography: Geography) -> FederationInfo:
    out = tmp_path_factory.mktemp("synth") / "federation"
    return generate_federation(out, seed=11, scale=SCALE, geography=geography)


class Recorder(grpc.ServerInterceptor):
    """Keeps the serialized bytes of every request message the aggregator receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()

    def _keep(self, method: str, msg: object) -> None:
        with self._lock:
            self.messages.append((method, msg.SerializeToString()))  # type: ignore[attr-defined]

    def intercept_service(self, continuation, details):  # type: ignore[no-untyped-def]
        handler = continuation(details)
        if handler is None:
            return None
        method = details.method
        if handler.unary_unary:
            inner = handler.unary_unary

            def uu(req, ctx):  # type: ignore[no-untyped-def]
                self._keep(method, req)
                return inner(req, ctx)
            return grpc.unary_unary_rpc_method_handler(uu, handler.request_deserializer, handler.response_serializer)
        if handler.stream_unary:
            inner_su = handler.stream_unary

            def su(it, ctx):  # type: ignore[no-untyped-def]
                def tap():  # type: ignore[no-untyped-def]
                    for req in it:
                        self._keep(method, req)
                        yield req
                return inner_su(tap(), ctx)
            return grpc.stream_unary_rpc_method_handler(su, handler.request_deserializer, handler.response_serializer)
        if handler.unary_stream:
            inner_us = handler.unary_stream

            def us(req, ctx):  # type: ignore[no-untyped-def]
                self._keep(method, req)
                return inner_us(req, ctx)
            return grpc.unary_stream_rpc_method_handler(us, handler.request_deserializer, handler.response_serializer)
        return handler


@dataclass
class Running:
    fed: LocalFederation
    info: FederationInfo
    aggregator: RunningAggregator
    nodes: dict[str, Node]
    recorder: Recorder
    threads: list[threading.Thread] = field(default_factory=list)

    def client(self, party: str) -> AggregatorClient:
        return AggregatorClient(self.fed.address, self.fed.credentials(party))

    def spec(self, **kw: object) -> str:
        kw.setdefault("fuzzy", self.info.fuzzy)  # the GGD's survey records link on identifiers
        return round_spec(self.info.period, self.info.gemeente_code, kw.pop("indicators", self.info.holders),  # type: ignore[arg-type]
                          **kw)  # type: ignore[arg-type]

    def run_round(self, spec_toml: str, timeout: float = 300) -> tuple[str, object]:
        with self.client("coordinator") as c:
            round_id = c.submit_round(spec_toml)
            return round_id, c.wait_round(round_id, timeout=timeout)

    def stop(self) -> None:
        for n in self.nodes.values():
            n.stop()
        self.aggregator.stop(grace=0.5)
        for t in self.threads:
            t.join(timeout=30)


def start_federation(root: Path, info: FederationInfo, geography: Geography, *,
                     privacy_total: float = 10.0, on_invalid: str = "exclude",
                     tweak: Callable[[LocalFederation], None] | None = None,
                     interceptors: tuple[grpc.ServerInterceptor, ...] = ()) -> Running:
    fed = lay_out(root, info.out_dir, nodes=tuple(info.holders), port=0, privacy_total=privacy_total,
                  paillier_bits=TEST_BITS, on_invalid=on_invalid, poll_seconds=1.0)
    if tweak:
        tweak(fed)
    recorder = Recorder()
    agg = start_aggregator(load_aggregator_config(fed.aggregator_config), geography=geography,
                           interceptors=(recorder, *interceptors))
    fed = LocalFederation(fed.root, f"127.0.0.1:{agg.port}", fed.federation_dir, fed.pki_dir,
                          fed.aggregator_config, fed.node_configs, fed.coordinator_config, fed.researcher_config)
    nodes = {}
    threads = []
    for name, cfg_path in fed.node_configs.items():
        nodes[name], t = start_node(cfg_path, fed.address)
        threads.append(t)
    return Running(fed, info, agg, nodes, recorder, threads)


def start_node(config_path: Path, address: str, node: Node | None = None) -> tuple[Node, threading.Thread]:
    """A node (its config pointed at ``address``, or ``node`` as given) running in a daemon thread."""
    if node is None:
        cfg = load_node_config(config_path)
        node = Node(type(cfg)(**{**cfg.__dict__, "aggregator": address}))
    t = threading.Thread(target=node.run, name=f"node-{node.party.name}", daemon=True)
    t.start()
    return node, t


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, small_federation: FederationInfo,
            geography: Geography) -> Iterator[Running]:
    r = start_federation(tmp_path_factory.mktemp("fed"), small_federation, geography)
    yield r
    r.stop()


@contextmanager
def aggregator_round_keys(running: "Running") -> Iterator[dict[str, bytes]]:
    """The Paillier private keys of the rounds submitted meanwhile, as the aggregator's store
    receives them (it deletes a round's key when the round ends, so they are kept on the way in)."""
    store = running.aggregator.rounds.store
    keys: dict[str, bytes] = {}
    original = store.create_round

    def create_round(row, private_key, *args, **kwargs):  # type: ignore[no-untyped-def]
        keys[row.round_id] = bytes(private_key)
        return original(row, private_key, *args, **kwargs)

    store.create_round = create_round  # type: ignore[method-assign]
    try:
        yield keys
    finally:
        del store.create_round  # the class's method again


def truth_frame(info: FederationInfo) -> pd.DataFrame:
    return pd.read_csv(info.out_dir / "truth" / "truth.csv", dtype={"wijk_code": str, "age_band": str})
