"""A data holder's node: dials out to the aggregator and takes part in rounds.

The aggregator is trusted to be available, never to behave: every task is checked against
what the node can verify itself (the coordinator-signed spec, its own ledger and journal,
certificates) before its step runs. A round, as the node sees it:

1. ``join``      (nodes/join.py) verify the spec and the round's parameters, read and
                 validate its files, check the budget, record the join, send a signed
                 envelope key.
2. ``seal``      (nodes/seal.py, the spine node) seal each child's cell for the sources
                 and noise its own counts.
3. ``aggregate`` (nodes/aggregate.py, a source node) open the relays, link, forward chain
                 hops, sum sealed cells, add noise under encryption.

After step 2 or 3 the node charges its ledger and records the release in one transaction,
then sends: a round is released at most once, a round that fails earlier costs nothing.
Records never leave the node; only noised aggregates (or sealed, enveloped cells for the
next node) do. The node opens no port.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import date
from pathlib import Path
from typing import Callable, Iterator

import grpc

from wijkindex import wire
from wijkindex.config import NodeConfig
from wijkindex.errors import CertificateError, CryptoError, WijkindexError, public_reason
from wijkindex.linkage.pseudonym import LinkageSecret
from wijkindex.nodes.aggregate import aggregate
from wijkindex.nodes.context import Party, RoundContext, StepOutput
from wijkindex.nodes.join import join
from wijkindex.nodes.seal import seal
from wijkindex.privacy.ledger import PrivacyLedger, ReplayRefused
from wijkindex.proto import wijkindex_pb2 as pb
from wijkindex.proto import wijkindex_pb2_grpc as rpc
from wijkindex.protocol import messages as m
from wijkindex.protocol.sealing import close_pool
from wijkindex.security.pki import Identity, PartyCredentials, load_private_key
from wijkindex.security.revocation import RevocationList
from wijkindex.security.tls import secure_channel

log = logging.getLogger("wijkindex.node")

class ProgressLog:
    """A node's progress bar is its log: one line per step at every tenth of the work."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def __call__(self, step: str, done: int, total: int) -> None:
        tenth = 10 * done // max(total, 1)
        if done == 0 or tenth == self._last.get(step):
            return
        self._last[step] = tenth
        log.info("%s: %3d%% (%s of %s)", step, 10 * tenth, f"{done:,}", f"{total:,}")
        if done >= total:
            self._last.pop(step, None)


class Node:
    """One data holder. ``run`` polls the aggregator until stopped; ``handle`` runs one task."""

    def __init__(self, config: NodeConfig, *, progress: Callable[[str, int, int], None] | None = None) -> None:
        self.config = config
        self.name = config.name
        self.creds = PartyCredentials.from_paths(config.tls.cert, config.tls.key, config.tls.ca)
        if self.creds.identity != Identity("node", self.name):
            raise WijkindexError(f"{config.tls.cert} names {self.creds.identity.uri}; node {self.name!r} "
                                 f"needs urn:wijkindex:node:{self.name}")
        if config.test_only_small_keys:
            log.warning("node %s accepts Paillier keys below 2048 bits (test_only_small_keys): never in production",
                        self.name)
        ca_pem = Path(config.tls.ca).read_bytes()
        self.ledger = PrivacyLedger(config.ledger, config.privacy_total, owner=self.name)
        self.party = Party(config=config, secret=LinkageSecret.from_file(config.linkage_secret),
                           signing_key=load_private_key(config.tls.key), ca_pem=ca_pem,
                           revoked=RevocationList(config.crl, ca_pem), ledger=self.ledger,
                           progress=progress or ProgressLog())
        self.rounds: dict[str, RoundContext] = {}
        self._mapping: tuple[object, object] | None = (config.datasets, config.indicators)  # as last used
        self._stopped = False
        self.reports_dir = Path(config.ledger).parent / "reports" / self.name  # nodes may share a folder
        self._handlers: dict[type, Callable[[rpc.NodeExchangeStub, m.Task], None]] = {
            m.JoinTask: self._on_join,  # type: ignore[dict-item]
            m.SealTask: self._on_seal,  # type: ignore[dict-item]
            m.AggregateTask: self._on_aggregate,  # type: ignore[dict-item]
        }

    # ---- the loop --------------------------------------------------------------------

    def stop(self) -> None:
        self._stopped = True

    def run(self, *, once: bool = False) -> None:
        """Poll for tasks; reconnect with exponential backoff when the aggregator is away."""
        backoff = 0.5
        while not self._stopped:
            try:
                with secure_channel(self.config.aggregator, self.creds, crl=self.config.crl) as channel:
                    stub = rpc.NodeExchangeStub(channel)
                    log.info("node %s connected to %s", self.name, self.config.aggregator)
                    while not self._stopped:
                        task = wire.task_from_proto(stub.PollTask(
                            pb.PollTaskRequest(wait_seconds=self.config.poll_seconds),
                            timeout=self.config.poll_seconds + 30))
                        backoff = 0.5
                        if task is not None:
                            self.handle(stub, task)
                        if once and task is None:
                            return
            except grpc.RpcError as exc:  # away, or refusing us: the node waits and asks again
                log.warning("aggregator %s (%s); retrying in %.1f s",
                            "unavailable" if exc.code() in (grpc.StatusCode.UNAVAILABLE,
                                                            grpc.StatusCode.DEADLINE_EXCEEDED) else "error",
                            exc.details(), backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
            except CertificateError as exc:  # not the aggregator, or its certificate expired or was revoked
                log.error("refusing to talk to %s: %s; retrying in %.1f s", self.config.aggregator, exc, backoff)
                if once:
                    raise
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    def handle(self, stub: rpc.NodeExchangeStub, task: m.Task) -> None:
        """Run one task's step; a refusal is audited here and reported without record values."""
        round_id = task.round_id
        step = type(task).__name__
        try:
            self._handlers[type(task)](stub, task)
        except WijkindexError as exc:
            log.error("round %s: %s refused: %s", round_id, step, exc)
            self.ledger.audit(round_id, step, "refused", str(exc))
            if not isinstance(exc, ReplayRefused):  # a replayed task does not end the round the node is in
                self.rounds.pop(round_id, None)
            if isinstance(task, m.JoinTask):
                self._send(stub.JoinRound, wire.join_to_proto(m.JoinReply(round_id, False, public_reason(exc))))
            else:
                self._send(stub.ReportFailure, pb.NodeFailure(round_id=round_id, reason=public_reason(exc)[:2000]))
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise
            self.rounds.pop(round_id, None)
            self.ledger.audit(round_id, step, "aggregator refused", str(exc.details()))
            if exc.code() == grpc.StatusCode.FAILED_PRECONDITION:  # the round ended or moved on without us
                log.warning("round %s: %s", round_id, exc.details())
                return
            log.error("round %s: aggregator refused: %s", round_id, exc.details())
            self._send(stub.ReportFailure, pb.NodeFailure(round_id=round_id, reason="[WI610] the aggregator "
                                                          "refused a step of this node"))
        except Exception as exc:  # a task no check foresaw must end its round, not the node
            log.exception("round %s: %s failed", round_id, step)
            self.ledger.audit(round_id, step, "failed", f"{type(exc).__name__}: {exc}")
            self.rounds.pop(round_id, None)
            self._send(stub.ReportFailure, pb.NodeFailure(round_id=round_id, reason=public_reason(exc)))

    @staticmethod
    def _send(method: Callable[..., object], message: object) -> None:
        try:
            method(message)
        except grpc.RpcError as exc:
            log.error("could not tell the aggregator: %s", exc.details())

    # ---- the steps -------------------------------------------------------------------

    def _on_join(self, stub: rpc.NodeExchangeStub, task: m.JoinTask) -> None:
        reply, ctx = join(self.party, task)
        if (ctx.mapping.datasets, ctx.mapping.indicators) != self._mapping:
            if self._mapping is not None:
                log.info("round %s: datasets.toml changed since the last round; this round reads by the new "
                         "mapping", task.round_id)
            self._mapping = (ctx.mapping.datasets, ctx.mapping.indicators)
        self.rounds[task.round_id] = ctx
        self.ledger.audit(task.round_id, "JoinTask", "joined", f"epsilon {ctx.plan.epsilon_spent:g} at release")
        stub.JoinRound(wire.join_to_proto(reply))

    def _check_role(self, task: m.SealTask | m.AggregateTask) -> None:
        """A SealTask is for the round's spine, an AggregateTask for its other nodes (the signed spec's)."""
        ctx = self.rounds.get(task.round_id)
        if ctx is not None:
            spine = ctx.spec.is_spine(self.name)
            if spine != isinstance(task, m.SealTask):
                raise CryptoError(f"round {task.round_id}: a {type(task).__name__} for node {self.name}, which "
                                  f"{'is' if spine else 'is not'} a spine of the signed spec")

    def _on_seal(self, stub: rpc.NodeExchangeStub, task: m.SealTask) -> None:
        self._run_step(stub, task, "sealing", lambda ctx: seal(self.party, ctx, task))

    def _on_aggregate(self, stub: rpc.NodeExchangeStub, task: m.AggregateTask) -> None:
        def fetch() -> Iterator[m.RelayChunk]:  # called once the task's peers are checked
            for c in stub.FetchRelay(pb.FetchRelayRequest(round_id=task.round_id)):
                yield wire.chunk_from_proto(c)
        self._run_step(stub, task, "aggregating", lambda ctx: aggregate(self.party, ctx, task, fetch))

    def _run_step(self, stub: rpc.NodeExchangeStub, task: m.SealTask | m.AggregateTask, state: str,
                  step: Callable[[RoundContext], StepOutput]) -> None:
        """The role check and the journal's one step first, then the step, then commit and send."""
        self._check_role(task)
        self.ledger.begin_step(task.round_id, state)
        ctx = self._context(task.round_id)
        try:
            out = step(ctx)
        finally:
            close_pool()  # the round key's sealing workers end with the node's step
        self._commit_and_send(stub, ctx, out)

    def _context(self, round_id: str) -> RoundContext:
        ctx = self.rounds.get(round_id)
        if ctx is None:
            raise WijkindexError(f"node {self.name} has no state for round {round_id} (restarted after joining?)",
                                 public=f"node {self.name} has no state for round {round_id} (restarted after "
                                        "joining?)")
        return ctx

    def _commit_and_send(self, stub: rpc.NodeExchangeStub, ctx: RoundContext, out: StepOutput) -> None:
        """Charge the ledger and record the release in one transaction, then send the relay and the release."""
        release = wire.release_to_proto(out.release).SerializeToString()
        self.ledger.record_release(ctx.round_id, ctx.spec.period, ctx.charges, release)
        self.ledger.audit(ctx.round_id, "release", "charged", f"{len(out.release.vectors)} vectors, "
                          f"{len(out.relay)} relay chunks")
        if out.relay:
            stub.UploadRelay(iter([wire.chunk_to_proto(c) for c in out.relay]))
        stub.SubmitRelease(pb.Release.FromString(release))
        self._write_report(ctx)
        self.rounds.pop(ctx.round_id, None)
        log.info("released round %s: %d vectors", ctx.round_id, len(out.release.vectors))

    def _write_report(self, ctx: RoundContext) -> None:
        """The node's own record of the round (stays at the holder): what was read, excluded, linked."""
        self.reports_dir.mkdir(parents=True, exist_ok=True)
        ctx.report["epsilon"] = ctx.plan.epsilon_spent
        ctx.report["finished"] = date.today().isoformat()
        tmp = self.reports_dir / f".{ctx.round_id}.json.tmp"
        tmp.write_text(json.dumps(ctx.report, indent=2, default=str))
        tmp.replace(self.reports_dir / f"{ctx.round_id}.json")
