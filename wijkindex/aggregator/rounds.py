"""The aggregator's side of a linkage round, top to bottom.

1. ``submit``   validate the coordinator's spec, fix the cells, make the round's Paillier key.
2. ``join``     each node accepts (it checks its budget; it charges only at release) with a signed envelope key.
3. ``upload_relay`` the spine node's sealed spine arrives, enveloped per receiving node.
4. ``fetch_relay``  each source node downloads its envelopes (opaque to the aggregator).
5. ``release``  each node sends its noised aggregates; the cost is checked against the spec.
6. ``finalise`` decrypt the noised sealed counts, post-process, assemble and store the index.

State lives in SQLite (``Store``); a node asks ``next_task`` and gets the first step
of an open round that it has not done yet, so a node that restarts simply asks again.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import threading
import time
from dataclasses import asdict
from typing import Callable, Iterator, Sequence

import pandas as pd
import pyarrow as pa

from wijkindex.estimators.composite import IndexDefinition
from wijkindex.estimators.index import IndexMeta, NoisedRelease, assemble_index
from wijkindex.aggregator.store import TERMINAL, RoundRow, Store, now
from wijkindex.errors import CertificateError, CryptoError, SpecError, WijkindexError
from wijkindex.geography import Geography
from wijkindex.privacy.noise import NoisePlan, NoiseShare
from wijkindex.proto import wijkindex_pb2 as pb
from wijkindex.protocol import messages as m
from wijkindex.protocol.packing import PackingLayout
from wijkindex.protocol.paillier import PaillierPrivateKey, generate_keypair
from wijkindex.protocol.parameters import cells_digest, layout_for
from wijkindex.protocol.relay import chunk_problem
from wijkindex.protocol.sealing import joint_layout, open_noised
from wijkindex.protocol.spec import RoundSpec
from wijkindex.security.signing import verify_spec
from wijkindex.vocabulary import LINKAGE, MECHANISM, POPULATION, Z90
from wijkindex.wire import release_from_proto, release_to_proto

log = logging.getLogger("wijkindex.aggregator")



class RoundError(WijkindexError):
    """A node or coordinator call that does not fit the round's state."""

    code = "WI610"
    fix = "check `wijkindex round status ID`; the round may have ended or moved on"


class RoundManager:
    """Runs every round the aggregator holds; thread-safe, called by the gRPC servicers."""

    def __init__(self, store: Store, geography: Geography | Sequence[Geography], known_nodes: tuple[str, ...], *,
                 ca_pem: bytes, paillier_bits: int = 2048, min_cell_floor: int = 10,
                 min_expected_children: int = 5, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.ca_pem = ca_pem
        self.min_cell_floor = min_cell_floor
        self.min_expected_children = min_expected_children
        geos = [geography] if isinstance(geography, Geography) else list(geography)
        self.geographies = {g.gemeente_code: g for g in geos}  # one aggregator may serve several gemeenten
        if len(self.geographies) != len(geos):
            raise WijkindexError("two geographies for one gemeente code")
        self.known_nodes = known_nodes
        self.paillier_bits = paillier_bits
        self.clock = clock
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._watchdog = threading.Thread(target=self._watch_deadlines, name="round-deadlines", daemon=True)

    # ---- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        self._watchdog.start()

    def stop(self) -> None:
        self._stop.set()
        self._notify()

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    # ---- 1. submit ----------------------------------------------------------------------

    def cells_for(self, spec: RoundSpec) -> tuple[m.Cell, ...]:
        """The round's cells: every area of the level (sorted by code) x every age band."""
        cells = []
        for geo in self.geographies_of(spec):
            members = geo.members(spec.level)  # folded areas: the spine places their children here
            cells += [m.Cell(code, name, band.label, members.get(code, ()))
                      for code, name in geo.areas(spec.level).values.tolist() for band in spec.age_bands]
        return tuple(cells)

    def propose_cells(self, spec_toml: str, coordinator: str) -> tuple[m.Cell, ...]:
        """The cells a spec gets here, for the coordinator to sign their digest (checked as at submit)."""
        return self.cells_for(self._disclosure_checked(spec_toml, coordinator, "ProposeCells"))

    def _disclosure_checked(self, spec_toml: str, coordinator: str, action: str) -> RoundSpec:
        """The spec, validated and checked against disclosure (a refusal is audited)."""
        spec = RoundSpec.from_toml(spec_toml, known_nodes=self.known_nodes)
        try:
            self.check_disclosure(spec)
        except SpecError as exc:
            self.store.audit(coordinator, action, "refused", str(exc), spec.round_id or "")
            raise
        return spec

    def geographies_of(self, spec: RoundSpec) -> list[Geography]:
        """The geography of each gemeente of the spec's area (one, or a region's, by code)."""
        missing = [g for g in spec.gemeenten if g not in self.geographies]
        if missing:
            field = "spines" if spec.is_region else "area"
            raise SpecError(f"{field}: this aggregator serves {', '.join(sorted(self.geographies))}, "
                            f"the spec asks for {', '.join(missing)}; add them to the aggregator's `gemeenten`")
        return [self.geographies[g] for g in spec.gemeenten]

    def meta_of(self, spec: RoundSpec, round_id: str) -> IndexMeta:
        """The index's identity and its summing rows: the gemeente, or a region's gemeenten and itself."""
        geos = self.geographies_of(spec)
        if not spec.is_region:
            return IndexMeta(round_id, spec.period, spec.area, geos[0].gemeente_name, spec.min_cell_size,
                             level=spec.level)
        parents = tuple((g.gemeente_code, g.gemeente_name, "gemeente",
                         tuple(g.areas(spec.level).iloc[:, 0])) for g in geos)
        name = spec.area_name or spec.area
        return IndexMeta(round_id, spec.period, spec.area, name, spec.min_cell_size,
                         parents=(*parents, (spec.area, name, "region", None)), level=spec.level)

    def check_disclosure(self, spec: RoundSpec) -> None:
        """Refuse a spec that could single out children: a suppression threshold under the
        federation's floor, or cells that public figures (CBS inhabitants x age shares) say hold
        fewer than ``min_expected_children`` children, such as a buurt with two children. (The
        noise protects each child either way; this keeps tiny cells out of the question.)"""
        if spec.min_cell_size < self.min_cell_floor:
            raise SpecError(f"min_cell_size: {spec.min_cell_size} is below this federation's floor of "
                            f"{self.min_cell_floor}: cells that small could single out a child")
        small = []
        for geo in self.geographies_of(spec):
            for band in spec.age_bands:
                expected = geo.expected_children(band.low, band.high, spec.level)
                small += [f"{code} {band.label} (~{n:.0f})" for code, n in expected.items()
                          if n < self.min_expected_children]
        if small:
            raise SpecError(f"level: at level {spec.level!r}, {len(small)} cell(s) hold fewer than "
                            f"{self.min_expected_children} children by CBS figures, e.g. {', '.join(small[:5])}; "
                            "ask for a coarser level or wider age bands")

    def submit(self, spec_toml: str, coordinator: str, signature: bytes = b"", certificate_pem: bytes = b"") -> str:
        """Accept a spec signed by the coordinator submitting it; nodes get it exactly as signed."""
        try:
            signer = verify_spec(spec_toml, signature, certificate_pem, self.ca_pem)
        except (CryptoError, CertificateError) as exc:
            self.store.audit(coordinator, "SubmitRound", "refused", str(exc))
            raise SpecError(f"spec_signature: {exc}") from None
        if signer.party != coordinator:
            self.store.audit(coordinator, "SubmitRound", "refused", f"signed by {signer.uri}")
            raise SpecError(f"spec_signature: signed by {signer.uri}, submitted by coordinator {coordinator}")
        spec = self._disclosure_checked(spec_toml, coordinator, "SubmitRound")
        if not spec.round_id:
            raise SpecError("round_id: a signed spec names its round id (`wijkindex round start` adds one)")
        round_id = spec.round_id
        if self.store.round_exists(round_id, spec.nonce):
            self.store.audit(coordinator, "SubmitRound", "refused", "replayed round id or nonce", round_id)
            raise SpecError(f"round_id/nonce: round {round_id!r} or its nonce was submitted before (replay refused)")
        cells = self.cells_for(spec)
        if spec.cells_sha256 != cells_digest(cells):
            self.store.audit(coordinator, "SubmitRound", "refused", "cells_sha256 differs", round_id)
            raise SpecError("cells_sha256: " + ("missing: `wijkindex round start` asks the aggregator for the cells "
                                                "and signs their digest into the spec" if not spec.cells_sha256 else
                                                "the signed digest is not that of this aggregator's cells for the spec "
                                                "(the geography changed since the spec was signed?); sign it again"))
        key = generate_keypair(self.paillier_bits)
        layout = layout_for(len(cells), key.public_key.bits, spec.slot_bits)
        t = now()
        row = RoundRow(
            round_id=round_id, nonce=spec.nonce, spec_toml=spec_toml, state="joining", reason="",
            coordinator=coordinator, period=spec.period, gemeente=spec.area,
            public_key=key.public_key.to_bytes(), cells_json=json.dumps([asdict(c) for c in cells]),
            layout_json=json.dumps({"n_cells": layout.n_cells, "slot_bits": layout.slot_bits,
                                    "slots_per_ciphertext": layout.slots_per_ciphertext}),
            deadline=self.clock() + spec.deadline_seconds, created_at=t, updated_at=t)
        self.store.create_round(row, key.to_bytes(), list(spec.parties), signature=signature,
                                certificate_pem=certificate_pem)
        self.store.audit(coordinator, "SubmitRound", "accepted",
                         f"period {spec.period}, nodes {', '.join(spec.parties)}, cells {len(cells)}", round_id)
        log.info("round %s submitted by %s: %d cells, nodes %s", round_id, coordinator, len(cells), spec.parties)
        self._notify()
        return round_id

    def _spec(self, r: RoundRow) -> RoundSpec:
        return RoundSpec.from_toml(r.spec_toml)

    def _round(self, round_id: str, party: str | None = None) -> RoundRow:
        r = self.store.get_round(round_id)
        if r is None:
            raise RoundError(f"no round {round_id!r}")
        if party is not None and self.store.node(round_id, party) is None:
            raise RoundError(f"node {party!r} does not take part in round {round_id!r}")
        return r

    def status(self, round_id: str) -> m.RoundStatus:
        r = self._round(round_id)
        nodes = self.store.nodes(round_id)
        costs = tuple(m.PrivacyCost(**{**json.loads(n.cost_json), "datasets": tuple(json.loads(n.cost_json)["datasets"])})
                      for n in nodes if n.cost_json)
        return m.RoundStatus(
            round_id=r.round_id, state=r.state, reason=r.reason,
            nodes=tuple(m.NodeState(n.party, n.state, n.detail) for n in nodes), costs=costs,
            created_at=r.created_at, updated_at=r.updated_at,
            per_child_epsilon=self._per_child(r, costs))

    def _per_child(self, r: RoundRow, costs: Sequence[m.PrivacyCost]) -> float:
        """What a child held by every node can lose: the sources' costs and its own spine's."""
        spec = self._spec(r)
        spines = [c.epsilon for c in costs if spec.is_spine(c.party)]
        return sum(c.epsilon for c in costs if not spec.is_spine(c.party)) + max(spines, default=0.0)

    def summaries(self) -> list[m.RoundSummary]:
        return [m.RoundSummary(r.round_id, r.state, r.period, r.gemeente, r.updated_at)
                for r in self.store.list_rounds()]

    def cancel(self, round_id: str, coordinator: str, reason: str = "") -> m.RoundStatus:
        """End an open round as failed, at the request of the coordinator who submitted it."""
        r = self._round(round_id)
        if r.coordinator != coordinator:
            self.store.audit(coordinator, "CancelRound", "refused", f"submitted by {r.coordinator}", round_id)
            raise RoundError(f"round {round_id} was submitted by coordinator {r.coordinator!r}; only they may cancel it",
                             fix="ask the coordinator who started the round")
        why = f"cancelled by coordinator {coordinator}" + (f": {reason[:500]}" if reason else "")
        if r.state in TERMINAL or not self.store.set_round_state(round_id, "failed", why):
            raise RoundError(f"round {round_id} is {self._round(round_id).state}; only an open round can be cancelled",
                             fix="nothing to cancel: `wijkindex round status ID` shows how it ended")
        self.store.audit(coordinator, "CancelRound", "failed", why, round_id)
        log.warning("round %s %s", round_id, why)
        self._notify()
        return self.status(round_id)

    def fail(self, round_id: str, reason: str, actor: str = "aggregator") -> None:
        if self.store.set_round_state(round_id, "failed", reason):
            self.store.audit(actor, "RoundFailed", "failed", reason, round_id)
            log.warning("round %s failed: %s", round_id, reason)
            self._notify()

    # ---- task dispatch -------------------------------------------------------------

    def next_task(self, party: str, wait_seconds: float) -> m.Task | None:
        """The first undone step of an open round for this node; waits up to ``wait_seconds``."""
        deadline = time.monotonic() + max(0.0, min(wait_seconds, 60.0))
        while not self._stop.is_set():
            task = self._task_for(party)
            if task is not None:
                return task
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            with self._changed:
                self._changed.wait(timeout=min(remaining, 1.0))
        return None

    def _task_for(self, party: str) -> m.Task | None:
        for r, n in self.store.rounds_of(party):
            spec = self._spec(r)
            if r.state == "joining" and n.state == "invited":
                layout = json.loads(r.layout_json)
                signature, cert = self.store.spec_signature(r.round_id)
                return m.JoinTask(r.round_id, r.spec_toml, r.public_key, m.Layout(**layout),
                                  tuple(m.Cell(**c) for c in json.loads(r.cells_json)), signature, cert)
            if r.state == "sealing" and spec.is_spine(party) and n.state == "joined":
                recipients = tuple(
                    m.Recipient(o.party, o.envelope_key or b"", o.key_signature or b"", o.certificate_pem or b"")
                    for o in self.store.nodes(r.round_id) if not spec.is_spine(o.party))
                return m.SealTask(r.round_id, recipients)
            if r.state == "aggregating" and not spec.is_spine(party) and n.state == "joined":
                inbound = [snd for snd, rcpt in spec.relay_edges() if rcpt == party]
                if not set((snd, party) for snd in inbound) <= self.store.relay_edges(r.round_id):
                    continue  # an earlier node of a chain has not forwarded yet
                nodes = {o.party: o for o in self.store.nodes(r.round_id)}
                spine = nodes[spec.spine_parties[0]]
                senders = tuple(m.Recipient(snd, b"", b"", nodes[snd].certificate_pem or b"") for snd in inbound)
                forward = tuple(
                    m.Recipient(rcpt, nodes[rcpt].envelope_key or b"", nodes[rcpt].key_signature or b"",
                                nodes[rcpt].certificate_pem or b"")
                    for snd, rcpt in spec.relay_edges() if snd == party)
                return m.AggregateTask(r.round_id, ",".join(spec.spine_parties), spine.certificate_pem or b"",
                                       senders, forward)
        return None

    # ---- 2. join ----------------------------------------------------------------------

    def join(self, party: str, reply: m.JoinReply, certificate_pem: bytes) -> None:
        r = self._round(reply.round_id, party)
        if r.state != "joining":
            raise RoundError(f"round {r.round_id} is {r.state}, not joining")
        spec = self._spec(r)
        if not reply.accept:
            self.store.set_node(r.round_id, party, "refused", reply.reason)
            self.fail(r.round_id, f"node {party} refused: {reply.reason}", actor=party)
            return
        if reply.cost is None or reply.cost.epsilon > spec.node(party).privacy_loss + 1e-9:
            self.store.set_node(r.round_id, party, "refused", "declared cost exceeds the spec")
            self.fail(r.round_id, f"node {party} declared a privacy cost above the spec's privacy_loss", actor=party)
            return
        if not spec.is_spine(party) and len(reply.envelope_public_key) != 32:
            raise RoundError(f"node {party} sent no envelope key")
        self.store.set_node(r.round_id, party, "joined", f"will be charged epsilon {reply.cost.epsilon:g} at release",
                            envelope_key=reply.envelope_public_key, key_signature=reply.key_signature,
                            certificate_pem=certificate_pem)
        self.store.audit(party, "JoinRound", "joined", f"epsilon {reply.cost.epsilon:g}", r.round_id)
        if all(n.state == "joined" for n in self.store.nodes(r.round_id)):
            self.store.set_round_state(r.round_id, "sealing", expect="joining")
        self._notify()

    # ---- 3./4. relay ----------------------------------------------------------------

    def upload_relay(self, party: str, chunks: list[m.RelayChunk]) -> int:
        """Store one node's relay: the spine's sealed spine, or a chain hop's forwarded cells."""
        if not chunks:
            raise RoundError("empty relay upload")
        round_id = chunks[0].round_id
        r = self._round(round_id, party)
        spec = self._spec(r)
        expected_state = "sealing" if spec.is_spine(party) else "aggregating"
        if r.state != expected_state:
            raise RoundError(f"round {round_id} is {r.state}; a relay from {party} fits while {expected_state}")
        recipients = {rcpt for snd, rcpt in spec.relay_edges() if snd == party}
        if not recipients:
            raise RoundError(f"node {party} relays to no one in round {round_id}")
        problem = self._relay_problem(party, round_id, recipients, chunks)
        if problem:  # lost, repeated or stray chunks: the round cannot go on, and says why
            self.store.audit(party, "UploadRelay", "refused", problem, round_id)
            self.fail(round_id, problem, actor=party)
            raise RoundError(problem)
        if not self.store.put_relay(round_id, party, [(c.recipient, c.seq, c.total, c.envelope) for c in chunks]):
            self.store.audit(party, "UploadRelay", "refused", "second relay", round_id)
            raise RoundError(f"node {party} already relayed in round {round_id}; nothing is relayed twice")
        size = sum(len(c.envelope) for c in chunks)
        detail = f"{len(chunks)} envelopes, {size} bytes to {', '.join(sorted(recipients))}"
        if spec.is_spine(party):
            self.store.set_node(round_id, party, "relayed", detail)
        self.store.audit(party, "UploadRelay", "stored", detail, round_id)
        relayed = {snd for snd, _ in self.store.relay_edges(round_id)}
        if spec.is_spine(party) and set(spec.spine_parties) <= relayed:  # every gemeente's spine is in
            self.store.set_round_state(round_id, "aggregating", expect="sealing")
        self._notify()
        return len(chunks)

    @staticmethod
    def _relay_problem(party: str, round_id: str, recipients: set[str], chunks: list[m.RelayChunk]) -> str:
        """Why a relay upload cannot be stored, or "" when every recipient got chunks 0..total-1 once."""
        for c in chunks:
            if c.round_id != round_id or c.recipient not in recipients:
                return f"relay chunk from {party} for {c.recipient!r} in round {c.round_id!r} does not belong here"
        for rcpt in sorted(recipients):
            problem = chunk_problem(party, rcpt, [(c.seq, c.total) for c in chunks if c.recipient == rcpt])
            if problem:
                return problem
        return ""

    def fetch_relay(self, party: str, round_id: str) -> Iterator[m.RelayChunk]:
        r = self._round(round_id, party)
        if r.state != "aggregating":
            raise RoundError(f"round {round_id} is {r.state}; the relay is available while aggregating")
        self.store.audit(party, "FetchRelay", "served", "", round_id)
        for sender, seq, total, env in self.store.relay_for(round_id, party):
            yield m.RelayChunk(round_id, party, seq, total, env, sender)

    # ---- 5. release ----------------------------------------------------------------------

    def release(self, party: str, rel: m.NodeRelease) -> None:
        r = self._round(rel.round_id, party)
        spec = self._spec(r)
        expected_state = "sealing" if spec.is_spine(party) else "aggregating"
        if r.state not in (expected_state, "aggregating"):
            raise RoundError(f"round {r.round_id} is {r.state}; a release from {party} does not fit")
        try:
            self._check_release(spec, party, rel)
            self._check_own_cells(spec, party, rel, r)
        except RoundError as exc:  # a release that breaks the spec cannot be mended by a retry
            self.store.audit(party, "SubmitRelease", "refused", str(exc), r.round_id)
            self.fail(r.round_id, str(exc), actor=party)
            raise
        cost = asdict(rel.cost)
        cost["datasets"] = list(rel.cost.datasets)
        if not self.store.put_release(r.round_id, party, release_to_proto(rel).SerializeToString(), "released", cost):
            self.store.audit(party, "SubmitRelease", "refused", "second release", r.round_id)
            raise RoundError(f"node {party} already released for round {r.round_id}; nothing is released twice")
        self.store.audit(party, "SubmitRelease", "stored", f"{len(rel.vectors)} vectors, epsilon {rel.cost.epsilon:g}",
                         r.round_id)
        self._notify()
        if all(n.state == "released" for n in self.store.nodes(r.round_id)):
            self.finalise(r.round_id)

    def _check_release(self, spec: RoundSpec, party: str, rel: m.NodeRelease) -> None:
        """The release's declared cost must be what OpenDP says the spec allows, for what it holds."""
        req = spec.node(party)
        names = [v.indicator for v in rel.vectors]
        asked = {r.name: r for r in spec.releases(party)}
        if sorted(names) != sorted(asked):
            raise RoundError(f"release of {party} holds {names}, the spec asks {list(asked)}")
        # marginal vectors (indicators, population at the spine, linkage report) and joint shares
        plan = spec.noise_plan(party)
        c = rel.cost
        declared = _plan_of(c)
        if c.party != party or c.mechanism != MECHANISM or (declared.marginal.d_in, declared.joint.d_in) != (
                plan.marginal.d_in, plan.joint.d_in):
            raise RoundError(f"release of {party} declares d_in {c.d_in} + {c.joint_d_in} joint / {c.mechanism}; "
                             f"expected {plan.marginal.d_in} + {plan.joint.d_in} joint / {MECHANISM}")
        if c.epsilon > req.privacy_loss + 1e-9 or not plan.covers(declared):
            raise RoundError(f"release of {party}: scales {c.scale:g} / {c.joint_scale:g} (joint) are below the "
                             f"{plan.marginal.scale:g} / {plan.joint.scale:g} that privacy_loss "
                             f"{req.privacy_loss:g} needs")
        for v in rel.vectors:
            sealed_expected = asked[v.indicator].sealed
            if v.indicator == LINKAGE and len(v.clear or ()) != 3:
                raise RoundError(f"release of {party}: the linkage report holds 3 counts (exact, fuzzy, unlinked)")
            if v.sealed is not None and v.noise_terms != 1:  # a chain's nodes merge their shares (one offset)
                raise RoundError(f"release of {party}: {v.indicator} carries {v.noise_terms} noise terms, "
                                 f"expected 1")
            if (v.sealed is not None) != sealed_expected:
                raise RoundError(f"release of {party}: {v.indicator} must be {'sealed' if sealed_expected else 'clear'}")

    @staticmethod
    def _check_own_cells(spec: RoundSpec, party: str, rel: m.NodeRelease, r: RoundRow) -> None:
        """A region's spine releases counts for its own gemeente's cells only (exact zeros
        elsewhere): the spines' vectors are summed, and each cell's margin counts one spine's noise."""
        if not (spec.is_region and spec.is_spine(party)):
            return
        cells = json.loads(r.cells_json)
        mine = spec.own_areas(party, (c["area_code"] for c in cells))
        own = spec.gemeente_of_spine(party)
        foreign = [i for i, c in enumerate(cells) if c["area_code"] not in mine]
        joints = {j.name: spec.levels(j) for j in spec.joint}
        for v in rel.vectors:
            k = joints.get(v.indicator, 1)  # a joint's vector has its levels per cell
            if v.clear is not None and v.indicator != LINKAGE and any(
                    v.clear[i * k + level] for i in foreign for level in range(k) if i * k + level < len(v.clear)):
                raise RoundError(f"release of {party}: {v.indicator} has counts outside gemeente {own}, whose "
                                 "spine it is")

    # ---- 6. finalise ---------------------------------------------------------------------

    def finalise(self, round_id: str) -> None:
        """Decrypt only noised aggregates, post-process, assemble and store the index."""
        r = self._round(round_id)
        moved = any(self.store.set_round_state(round_id, "releasing", expect=state)
                    for state in ("aggregating", "sealing"))  # sealing: a round with no source nodes
        if not moved and r.state != "releasing":
            return
        try:
            df = self.assemble(r)
        except Exception as exc:  # a broken release must end the round, not hang it
            log.exception("finalising %s failed", round_id)
            self.fail(round_id, f"assembling the index failed: {exc}")
            return
        sink = pa.BufferOutputStream()
        table = pa.Table.from_pandas(df, preserve_index=False)
        if df.attrs.get("linkage"):  # the fuzzy nodes' noised linkage reports travel with the index
            table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                                   b"wijkindex:linkage": json.dumps(df.attrs["linkage"]).encode()})
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        if self.store.complete_round(round_id, sink.getvalue().to_pybytes()):
            self.store.audit("aggregator", "Release", "completed", f"{len(df)} index rows", round_id)
            log.info("round %s completed: %d index rows", round_id, len(df))
        self._notify()

    def assemble(self, r: RoundRow) -> pd.DataFrame:
        spec = self._spec(r)
        key_bytes = self.store.private_key(r.round_id)
        if key_bytes is None:
            raise RoundError(f"round {r.round_id} has no decryption key left")
        key = PaillierPrivateKey.from_bytes(key_bytes)
        layout = PackingLayout(**json.loads(r.layout_json))
        cells = [m.Cell(**c) for c in json.loads(r.cells_json)]
        numerators: list[NoisedRelease] = []
        populations: list[NoisedRelease] = []
        releases = {p: release_from_proto(pb.Release.FromString(b)) for p, b in self.store.releases(r.round_id).items()}
        plans = {p: _plan_of(x.cost) for p, x in releases.items()}
        joints = {j.name: j for j in spec.joint}
        linkage: list[dict[str, object]] = []
        for party, rel in sorted(releases.items()):
            plan = plans[party]
            for v in rel.vectors:
                if v.indicator == LINKAGE:  # noised counts of how the node's records linked
                    exact, fuzzy, unlinked = (max(0, int(x)) for x in v.clear or (0, 0, 0))
                    linkage.append({"node": party, "linked_exact": exact, "linked_fuzzy": fuzzy,
                                    "not_linked": unlinked, "moe90": round(plan.marginal.moe(0.10), 1)})
                    continue
                joint = joints.get(v.indicator)
                vec_layout = joint_layout(layout, spec.levels(joint), key.public_key.bits) if joint else layout
                if v.sealed is not None:
                    cts = [key.public_key.ciphertext_from_bytes(b) for b in v.sealed]
                    values = open_noised(key, vec_layout, cts, v.noise_terms)
                else:
                    values = list(v.clear or ())
                if len(values) != vec_layout.n_cells:
                    raise RoundError(f"{party}/{v.indicator}: {len(values)} values for {vec_layout.n_cells} slots")
                if joint is None:
                    nr = NoisedRelease(indicator=v.indicator, source=party, values=tuple(int(x) for x in values),
                                       scale=plan.marginal.scale, variance=plan.marginal.variance,
                                       moe90=plan.marginal.moe(0.10))
                    if v.indicator.startswith(POPULATION):
                        populations.append(nr)  # in a region round one per spine: summed below
                    else:
                        numerators.append(nr)
                    continue
                # a joint count carries a noise share of every node of its chain
                chain = spec.chain(joint)
                variance = sum(plans[p].joint.variance for p in spec.joint_noise_parties(joint))
                levels = spec.levels(joint)
                per_level = [[int(values[c * levels + k]) for c in range(len(cells))] for k in range(levels)]
                shown = per_level if joint.kind != "count" else [
                    *per_level[:joint.cap], [sum(col) for col in zip(*per_level[joint.cap:])]]
                for k, (name, vals) in enumerate(zip(joint.level_names(), shown)):
                    merged = max(1, levels - joint.cap) if joint.kind == "count" and k == joint.cap else 1
                    var = variance * merged  # the top level sums the noised slots of cap, cap+1, ...
                    numerators.append(NoisedRelease(indicator=name, source="+".join(chain), values=tuple(vals),
                                                    scale=plan.joint.scale, variance=var,
                                                    moe90=Z90 * math.sqrt(var)))
        numerators = _sum_spines(spec, numerators)
        denominators = {d.indicator: d for d in _sum_spines(spec, populations)}
        if POPULATION not in denominators:
            raise RoundError("the spine node released no population counts")
        meta = self.meta_of(spec, r.round_id)
        order = {ind: i for i, ind in enumerate([*(ind for n in spec.nodes for ind in n.indicators),
                                                  *(name for j in spec.joint for name in j.level_names())])}
        numerators.sort(key=lambda x: order.get(x.indicator, len(order)))
        index = assemble_index(meta, cells, denominators, numerators, orientation=IndexDefinition.load().orientation,
                               scope=spec)
        index.attrs["linkage"] = linkage
        return index

    def index(self, round_id: str) -> bytes:
        r = self._round(round_id)
        data = self.store.index(round_id)
        if r.state != "completed" or data is None:
            raise RoundError(f"round {round_id} is {r.state}; an index exists only for completed rounds")
        return data

    # ---- deadlines -----------------------------------------------------------------------

    def _watch_deadlines(self) -> None:
        while not self._stop.wait(1.0):
            for r in self.store.list_rounds(states=("joining", "sealing", "aggregating", "releasing")):
                if self.clock() > r.deadline:
                    waiting = [n.party for n in self.store.nodes(r.round_id)
                               if n.state not in ("released",)]
                    self.fail(r.round_id, f"deadline passed in state {r.state}; waiting for "
                              f"{', '.join(waiting) or 'the aggregator'}")

    def fail_open_rounds_on_restart(self) -> None:
        """A restarted aggregator cannot resume a round whose nodes lost their per-round keys."""
        for r in self.store.list_rounds(states=("joining", "sealing", "aggregating", "releasing")):
            if r.state == "releasing":
                self.finalise(r.round_id)
            elif r.state not in TERMINAL and self.clock() > r.deadline:
                self.fail(r.round_id, "deadline passed while the aggregator was down")


def _sum_spines(spec: RoundSpec, releases: list[NoisedRelease]) -> list[NoisedRelease]:
    """A region round's spine vectors of one indicator summed into one (each cell holds one
    spine's count and noise, so the margin is one spine's); the source is the spines' names."""
    if not spec.is_region:
        return releases
    out: list[NoisedRelease] = []
    merged: dict[str, NoisedRelease] = {}
    for rel in releases:
        if not all(spec.is_spine(p) for p in rel.source.split("+")):  # a source's, or a chain through one
            out.append(rel)
            continue
        prev = merged.get(rel.indicator)
        merged[rel.indicator] = rel if prev is None else dataclasses.replace(
            prev, source="+".join(dict.fromkeys([*prev.source.split("+"), *rel.source.split("+")])),
            values=tuple(a + b for a, b in zip(prev.values, rel.values)))
    return [*merged.values(), *out]


def _plan_of(cost: m.PrivacyCost) -> NoisePlan:
    """The noise a release declares it added (checked against the spec before it is used)."""
    return NoisePlan(cost.epsilon, NoiseShare(cost.d_in, cost.scale), NoiseShare(cost.joint_d_in, cost.joint_scale))
