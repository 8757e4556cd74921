"""The aggregator's gRPC server: three role-gated services and gRPC health on one mTLS port.

Servicers are thin: they take the caller's identity from its certificate, convert
wire messages with ``wijkindex.wire`` and call :class:`RoundManager`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from concurrent import futures
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from wijkindex import wire
from wijkindex.aggregator.pooling import Pooling
from wijkindex.aggregator.rounds import RoundError, RoundManager
from wijkindex.aggregator.store import Store
from wijkindex.config import AggregatorConfig
from wijkindex.errors import WijkindexError
from wijkindex.geography import (Geography, Region, default_geography, load_gemeente, load_geography, load_kaart,
                                 load_regions_toml)
from wijkindex.proto import wijkindex_pb2 as pb
from wijkindex.proto import wijkindex_pb2_grpc as rpc
from wijkindex.security.auth import RoleAuthInterceptor, current_identity
from wijkindex.security.pki import Identity, PartyCredentials
from wijkindex.security.revocation import RevocationList
from wijkindex.security.tls import GRPC_OPTIONS, server_credentials

log = logging.getLogger("wijkindex.aggregator")

_PKG = "/wijkindex.v1."
POLICY: dict[str, frozenset[str]] = {
    _PKG + "Coordinator/SubmitRound": frozenset({"coordinator"}),
    _PKG + "Coordinator/GetRound": frozenset({"coordinator", "researcher"}),
    _PKG + "Coordinator/ProposeCells": frozenset({"coordinator"}),
    _PKG + "Coordinator/CancelRound": frozenset({"coordinator"}),
    _PKG + "NodeExchange/PollTask": frozenset({"node"}),
    _PKG + "NodeExchange/JoinRound": frozenset({"node"}),
    _PKG + "NodeExchange/UploadRelay": frozenset({"node"}),
    _PKG + "NodeExchange/FetchRelay": frozenset({"node"}),
    _PKG + "NodeExchange/SubmitRelease": frozenset({"node"}),
    _PKG + "NodeExchange/ReportFailure": frozenset({"node"}),
    _PKG + "Results/ListRounds": frozenset({"researcher", "coordinator"}),
    _PKG + "Results/GetIndex": frozenset({"researcher"}),
    _PKG + "Results/GetPooled": frozenset({"researcher"}),
}


def _peer_cert_pem(context: grpc.ServicerContext) -> bytes:
    certs = context.auth_context().get("x509_pem_cert") or [b""]
    return certs[0]


T = TypeVar("T")


def _guard(context: grpc.ServicerContext, fn: Callable[[], T]) -> T:
    """Map our errors to gRPC status codes with readable messages."""
    try:
        return fn()
    except RoundError as exc:
        context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
    except WijkindexError as exc:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    raise AssertionError("unreachable")


class CoordinatorService(rpc.CoordinatorServicer):
    def __init__(self, rounds: RoundManager) -> None:
        self.rounds = rounds

    def SubmitRound(self, request: pb.SubmitRoundRequest, context: grpc.ServicerContext) -> pb.SubmitRoundReply:
        who = current_identity(context)
        cert = (context.auth_context().get("x509_pem_cert") or [b""])[0]  # the verified TLS peer's
        round_id = _guard(context, lambda: self.rounds.submit(request.spec_toml, who.party, request.spec_signature,
                                                              cert))
        return pb.SubmitRoundReply(round_id=round_id)

    def GetRound(self, request: pb.GetRoundRequest, context: grpc.ServicerContext) -> pb.RoundStatus:
        status = _guard(context, lambda: self.rounds.status(request.round_id))
        return wire.status_to_proto(status)

    def CancelRound(self, request: pb.CancelRoundRequest, context: grpc.ServicerContext) -> pb.RoundStatus:
        who = current_identity(context)
        status = _guard(context, lambda: self.rounds.cancel(request.round_id, who.party, request.reason))
        return wire.status_to_proto(status)

    def ProposeCells(self, request: pb.ProposeCellsRequest, context: grpc.ServicerContext) -> pb.ProposeCellsReply:
        who = current_identity(context)
        cells = _guard(context, lambda: self.rounds.propose_cells(request.spec_toml, who.party))
        return pb.ProposeCellsReply(cells=wire.cells_to_proto(cells))


class NodeExchangeService(rpc.NodeExchangeServicer):
    def __init__(self, rounds: RoundManager) -> None:
        self.rounds = rounds

    def _node(self, context: grpc.ServicerContext) -> Identity:
        return current_identity(context)

    def PollTask(self, request: pb.PollTaskRequest, context: grpc.ServicerContext) -> pb.Task:
        party = self._node(context).party
        task = self.rounds.next_task(party, request.wait_seconds)
        return wire.task_to_proto(task)

    def JoinRound(self, request: pb.JoinRoundRequest, context: grpc.ServicerContext) -> pb.Ack:
        party = self._node(context).party
        _guard(context, lambda: self.rounds.join(party, wire.join_from_proto(request), _peer_cert_pem(context)))
        return pb.Ack(ok=True)

    def UploadRelay(self, request_iterator: Iterator[pb.RelayChunk], context: grpc.ServicerContext) -> pb.Ack:
        party = self._node(context).party
        chunks = [wire.chunk_from_proto(c) for c in request_iterator]
        n = _guard(context, lambda: self.rounds.upload_relay(party, chunks))
        return pb.Ack(ok=True, message=f"stored {n} envelopes")

    def FetchRelay(self, request: pb.FetchRelayRequest, context: grpc.ServicerContext) -> Iterator[pb.RelayChunk]:
        party = self._node(context).party
        chunks = _guard(context, lambda: list(self.rounds.fetch_relay(party, request.round_id)))
        for c in chunks:
            yield wire.chunk_to_proto(c)

    def SubmitRelease(self, request: pb.Release, context: grpc.ServicerContext) -> pb.Ack:
        party = self._node(context).party
        _guard(context, lambda: self.rounds.release(party, wire.release_from_proto(request)))
        return pb.Ack(ok=True)

    def ReportFailure(self, request: pb.NodeFailure, context: grpc.ServicerContext) -> pb.Ack:
        party = self._node(context).party
        _guard(context, lambda: self.rounds._round(request.round_id, party))
        self.rounds.fail(request.round_id, f"node {party}: {request.reason}", actor=party)
        return pb.Ack(ok=True)


class ResultsService(rpc.ResultsServicer):
    def __init__(self, rounds: RoundManager, user_regions: Sequence[Region] = ()) -> None:
        self.rounds = rounds
        self.pooling = Pooling(rounds.store, user_regions)

    def ListRounds(self, request: pb.ListRoundsRequest, context: grpc.ServicerContext) -> pb.ListRoundsReply:
        return pb.ListRoundsReply(rounds=[wire.summary_to_proto(s) for s in self.rounds.summaries()])

    def GetIndex(self, request: pb.GetIndexRequest, context: grpc.ServicerContext) -> pb.IndexReply:
        who = current_identity(context)
        data = _guard(context, lambda: self.rounds.index(request.round_id))
        self.rounds.store.audit(who.party, "GetIndex", "served", "", request.round_id)
        status = self.rounds.status(request.round_id)
        return pb.IndexReply(status=wire.status_to_proto(status), arrow_ipc=data)

    def GetPooled(self, request: pb.GetPooledRequest, context: grpc.ServicerContext) -> pb.PooledReply:
        who = current_identity(context)
        data, ids = _guard(context, lambda: self.pooling.arrow(request.round_id))
        self.rounds.store.audit(who.party, "GetPooled", "served", f"pooled from {len(ids)} round(s): {', '.join(ids)}",
                                request.round_id)
        return pb.PooledReply(arrow_ipc=data, round_ids=ids)


@dataclass
class RunningAggregator:
    server: grpc.Server
    port: int
    rounds: RoundManager
    health: health.HealthServicer

    def stop(self, grace: float | None = 1.0) -> None:
        self.health.enter_graceful_shutdown()
        self.rounds.stop()
        self.server.stop(grace).wait()
        self.rounds.store.close()


def _geographies(config: AggregatorConfig) -> list[Geography]:
    """The geographies the config names: a gemeente's own wijk- en buurtkaart file (its
    gemeenten), folders, CBS gemeenten from the shipped data, or the default geography."""
    if config.geography is not None:  # folding follows the disclosure guard, so no folded area is refused
        return [load_kaart(config.geography, g, level=config.geography_level,
                           min_children=config.min_expected_children) for g in (config.gemeenten or (None,))]
    geos = [load_geography(Path(d)) for d in config.geography_dirs] + [load_gemeente(g) for g in config.gemeenten]
    if config.geography_dir is not None:
        geos.insert(0, load_geography(Path(config.geography_dir)))
    return geos or [default_geography()]


def start_aggregator(config: AggregatorConfig, *, geography: Geography | Sequence[Geography] | None = None,
                     interceptors: tuple[grpc.ServerInterceptor, ...] = ()) -> RunningAggregator:
    """Start the server on ``config.listen`` (port 0 picks a free port) and return it running."""
    creds = PartyCredentials.from_paths(config.tls.cert, config.tls.key, config.tls.ca)
    if creds.identity.role != "aggregator":
        raise WijkindexError(f"{config.tls.cert} is a {creds.identity.role} certificate; the aggregator needs "
                             "an aggregator certificate")
    store = Store(config.database)
    geo = geography or _geographies(config)
    ca_pem = Path(config.tls.ca).read_bytes()
    rounds = RoundManager(store, geo, config.nodes, ca_pem=ca_pem,
                          paillier_bits=config.paillier_bits,
                          min_cell_floor=config.min_cell_floor,
                          min_expected_children=config.min_expected_children)

    def audit(method: str, identity: Identity | None, outcome: str, detail: str) -> None:
        if outcome != "allowed":
            store.audit(identity.uri if identity else "unauthenticated", method, outcome, detail)

    revoked = RevocationList(config.crl, ca_pem)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="aggregator"),
                         interceptors=[RoleAuthInterceptor(POLICY, audit=audit, revoked=revoked), *interceptors],
                         options=GRPC_OPTIONS)
    rpc.add_CoordinatorServicer_to_server(CoordinatorService(rounds), server)
    rpc.add_NodeExchangeServicer_to_server(NodeExchangeService(rounds), server)
    user_regions = load_regions_toml(config.regions) if config.regions is not None else ()
    rpc.add_ResultsServicer_to_server(ResultsService(rounds, user_regions), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_secure_port(config.listen, server_credentials(creds))
    if port == 0:
        raise WijkindexError(f"cannot listen on {config.listen}")
    rounds.fail_open_rounds_on_restart()
    rounds.start()
    server.start()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set("wijkindex.v1.Coordinator", health_pb2.HealthCheckResponse.SERVING)
    log.info("aggregator listening on port %d for gemeente(n) %s, nodes %s", port,
             ", ".join(sorted(rounds.geographies)), ", ".join(config.nodes))
    return RunningAggregator(server, port, rounds, health_servicer)
