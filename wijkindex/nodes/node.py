"""A data holder's node: dials out to the aggregator and takes part in rounds.

A round, as the node sees it:

1. ``join``      read and validate its files, plan the noise with OpenDP, charge the
                 ledger (before anything is released), send a signed envelope key.
2. ``seal``      (spine node) pseudonymise the spine, seal each child's cell under the
                 round's Paillier key, envelope the sealed spine for each source node,
                 and release its own indicators noised in the clear.
3. ``aggregate`` (source node) open the sealed spine, pseudonymise its own records, sum
                 the sealed cells of the children carrying each indicator, add OpenDP
                 noise under encryption and release the sealed noised counts.

Records never leave the node; only noised aggregates (or sealed, enveloped cells for
the next node) do. The node opens no port.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable, Iterator

import grpc
import numpy as np
import pandas as pd
import pyarrow as pa

from wijkindex import wire
from wijkindex.config import DatasetConfig, NodeConfig
from wijkindex.errors import CertificateError, CryptoError, Location, WijkindexError
from wijkindex.linkage.bsn import normalise_bsn
from wijkindex.linkage.fuzzy import encode_identifiers, link_without_bsn, spine_encodings
from wijkindex.linkage.pseudonym import EncodingKey, LinkageSecret, Pseudonymiser, RoundKey
from wijkindex.linkage.records import ColumnSpec, LoadedRecords, RecordIssue, load_records, shown_value
from wijkindex.privacy.ledger import PrivacyLedger
from wijkindex.privacy.noise import NoisePlan
from wijkindex.proto import wijkindex_pb2 as pb
from wijkindex.proto import wijkindex_pb2_grpc as rpc
from wijkindex.protocol import messages as m
from wijkindex.protocol.envelope import (EnvelopeKeyPair, open_envelope, seal_envelope, sign_envelope_key,
                                         verify_envelope_key)
from wijkindex.protocol.packing import PackingLayout
from wijkindex.protocol.paillier import PaillierPublicKey
from wijkindex.protocol.sealing import (add_noise_sealed, aggregate_sealed, close_pool, joint_layout, seal_batches,
                                        seal_noise, transform_sealed, warm_pool)
from wijkindex.protocol.spec import JointIndicator, RoundSpec
from wijkindex.security.pki import Identity, PartyCredentials, load_private_key, verify_party_certificate
from wijkindex.security.revocation import RevocationList
from wijkindex.security.signing import verify_spec
from wijkindex.security.tls import secure_channel

log = logging.getLogger("wijkindex.node")

POPULATION = "population"
LINKAGE = "linkage"  # a fuzzy node's report: children linked exactly, fuzzily, records not linked
LINK_COLUMN = "_link"  # at a source node: each record's spine pseudonym (hex), "" if it did not link
MECHANISM = "discrete_laplace"
RELAY_CHUNK_ROWS = 2000


def relay_context(round_id: str, sender: str, recipient: str, seq: int, total: int) -> bytes:
    """Bound into every envelope: a chunk cannot be replayed into another round, slot or recipient."""
    return f"wijkindex/v1/relay|{round_id}|{sender}->{recipient}|{seq}/{total}".encode()


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


@dataclass
class Relay:
    """What one sender relayed to this node: sealed columns by pseudonym, in the sender's order."""

    columns: dict[str, dict[bytes, bytes]] = field(default_factory=dict)
    order: list[bytes] = field(default_factory=list)
    shares: dict[str, list[int]] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)
    total: int | None = None

    def add(self, table: pa.Table, public_key: PaillierPublicKey) -> None:
        keys = table.column("pseudonym").to_pylist()
        self.order.extend(keys)
        for name in table.column_names[1:]:
            self.columns.setdefault(name, {}).update(zip(keys, table.column(name).to_pylist()))
        size = public_key.ciphertext_bytes
        for key, value in (table.schema.metadata or {}).items():
            if key.startswith(b"noise:"):
                raw = bytes.fromhex(value.decode())
                self.shares[key[6:].decode()] = [public_key.ciphertext_from_bytes(raw[i:i + size])
                                                 for i in range(0, len(raw), size)]


@dataclass
class RoundContext:
    """What a node keeps about one round between its steps (in memory only)."""

    spec: RoundSpec
    plan: NoisePlan
    public_key: PaillierPublicKey
    layout: PackingLayout
    cells: tuple[m.Cell, ...]
    data: dict[str, LoadedRecords]
    envelope: EnvelopeKeyPair | None
    report: dict[str, object] = field(default_factory=dict)


class Node:
    """One data holder. ``run`` polls the aggregator until stopped."""

    def __init__(self, config: NodeConfig, *, progress: Callable[[str, int, int], None] | None = None) -> None:
        self.config = config
        self.name = config.name
        self.creds = PartyCredentials.from_paths(config.tls.cert, config.tls.key, config.tls.ca)
        if self.creds.identity != Identity("node", self.name):
            raise WijkindexError(f"{config.tls.cert} names {self.creds.identity.uri}; node {self.name!r} "
                                 f"needs urn:wijkindex:node:{self.name}")
        self._signing_key = load_private_key(config.tls.key)
        self._ca_pem = Path(config.tls.ca).read_bytes()
        self._revoked = RevocationList(config.crl, self._ca_pem)
        self._secret = LinkageSecret.from_file(config.linkage_secret)
        self.ledger = PrivacyLedger(config.ledger, config.privacy_total)
        self.rounds: dict[str, RoundContext] = {}
        self.progress = progress or ProgressLog()
        self._stopped = False
        self.reports_dir = Path(config.ledger).parent / "reports"

    # ---- the loop --------------------------------------------------------------------

    def stop(self) -> None:
        self._stopped = True

    def run(self, *, once: bool = False) -> None:
        """Poll for tasks; reconnect with exponential backoff when the aggregator is away."""
        backoff = 0.5
        while not self._stopped:
            try:
                with secure_channel(self.config.aggregator, self.creds) as channel:
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
            except grpc.RpcError as exc:
                if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise
                log.warning("aggregator unavailable (%s); retrying in %.1f s", exc.details(), backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    def handle(self, stub: rpc.NodeExchangeStub, task: m.Task) -> None:
        """Run one step; a failure is reported to the aggregator so the round fails with a reason."""
        round_id = task.round_id
        try:
            if isinstance(task, m.JoinTask):
                stub.JoinRound(wire.join_to_proto(self.join(task)))
            else:
                try:
                    if isinstance(task, m.SealTask):
                        self.seal(stub, task)
                    else:
                        self.aggregate(stub, task)
                finally:
                    close_pool()  # the round key's sealing workers end with the node's step
        except WijkindexError as exc:
            log.error("round %s: %s", round_id, exc)
            self._report_failure(stub, round_id, str(exc))
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise
            if exc.code() == grpc.StatusCode.FAILED_PRECONDITION:  # the round ended or moved on without us
                log.warning("round %s: %s", round_id, exc.details())
                self.rounds.pop(round_id, None)
                return
            log.error("round %s: aggregator refused: %s", round_id, exc.details())
            self._report_failure(stub, round_id, f"aggregator refused a step: {exc.details()}")

    def _report_failure(self, stub: rpc.NodeExchangeStub, round_id: str, reason: str) -> None:
        self.rounds.pop(round_id, None)
        try:
            stub.ReportFailure(pb.NodeFailure(round_id=round_id, reason=reason[:2000]))
        except grpc.RpcError as exc:
            log.error("could not report the failure of round %s: %s", round_id, exc.details())

    # ---- 1. join -----------------------------------------------------------------------

    def join(self, task: m.JoinTask) -> m.JoinReply:
        try:  # the spec must be exactly what a federation coordinator signed, whoever relayed it
            signer = verify_spec(task.spec_toml, task.spec_signature, task.coordinator_certificate_pem, self._ca_pem)
            self._revoked.check(task.coordinator_certificate_pem, "the round spec's signing certificate")
        except (CryptoError, CertificateError) as exc:
            log.warning("refusing round %s: %s", task.round_id, exc)
            return m.JoinReply(task.round_id, False, f"node {self.name} refuses the spec: {exc}")
        spec = RoundSpec.from_toml(task.spec_toml, source=f"spec of round {task.round_id}")
        if spec.round_id != task.round_id:
            return m.JoinReply(task.round_id, False,
                               f"node {self.name} refuses the spec: it was signed for round {spec.round_id!r}")
        log.info("round %s: spec signed by %s", task.round_id, signer.uri)
        try:
            req = spec.node(self.name)
        except KeyError:
            return m.JoinReply(task.round_id, False, f"node {self.name} is not part of this round")
        offered = [i.name for i in self.config.indicators]
        joint_attrs = [a for j in spec.joint_for(self.name) for a in j.at(self.name)]
        missing = list(dict.fromkeys(i for i in (*req.indicators, *joint_attrs) if i not in offered))
        if missing:
            return m.JoinReply(task.round_id, False,
                               f"node {self.name} does not offer indicator(s) {', '.join(missing)}; "
                               f"it offers {', '.join(offered)}")
        is_spine = spec.spine == self.name
        if is_spine and self.config.spine_dataset is None:
            return m.JoinReply(task.round_id, False, f"node {self.name} holds no spine dataset")
        names = {self.config.indicator(i).dataset for i in (*req.indicators, *joint_attrs)}
        if is_spine:
            names.add(self.config.spine_dataset.name)  # type: ignore[union-attr]
        fuzzy_nodes = [n.party for n in spec.nodes if n.fuzzy]
        if is_spine and fuzzy_nodes and not self.config.spine_dataset.identifiers:  # type: ignore[union-attr]
            return m.JoinReply(task.round_id, False,
                               f"node(s) {', '.join(fuzzy_nodes)} link fuzzily, but the spine dataset "
                               f"{self.config.spine_dataset.name!r} declares no identifiers")  # type: ignore[union-attr]
        if req.fuzzy and not any(self.config.dataset(n).identifiers for n in names):
            return m.JoinReply(task.round_id, False,
                               f"node {self.name} is asked to link fuzzily, but none of its datasets "
                               f"({', '.join(sorted(names))}) declares identifiers")
        try:
            data = {n: self._load(self.config.dataset(n), spec.period) for n in sorted(names)}
        except WijkindexError as exc:
            return m.JoinReply(task.round_id, False, str(exc))
        # marginal vectors (indicators, the population at the spine) and the joint shares it adds
        plan = spec.noise_plan(self.name)
        charged = {e.dataset for e in self.ledger.entries() if e.round_id == task.round_id}
        for ds in sorted(names - charged):  # check all first, so a refusal charges nothing
            if not self.ledger.would_fit(ds, spec.period, plan.epsilon_spent):
                return m.JoinReply(task.round_id, False,
                                   f"privacy budget of dataset {ds!r} for period {spec.period} would be exceeded: "
                                   f"spent {self.ledger.spent(ds, spec.period):g} + {plan.epsilon_spent:g} > "
                                   f"total {self.config.privacy_total:g}")
        for ds in sorted(names - charged):
            self.ledger.charge(ds, spec.period, task.round_id, plan.epsilon_spent,
                               purpose=_purpose(plan))
        envelope = None if is_spine else EnvelopeKeyPair.generate()
        key_pub = envelope.public_bytes() if envelope else b""
        signature = sign_envelope_key(key_pub, round_id=task.round_id, party=self.name,
                                      signer=self._signing_key) if envelope else b""
        self.rounds[task.round_id] = RoundContext(
            spec=spec, plan=plan, public_key=PaillierPublicKey.from_bytes(task.paillier_public_key),
            layout=PackingLayout(task.layout.n_cells, task.layout.slot_bits, task.layout.slots_per_ciphertext),
            cells=task.cells, data=data, envelope=envelope,
            report={"round_id": task.round_id, "datasets": {n: {"read": d.n_read, "excluded": d.n_excluded,
                                                                 "issues": [str(i) for i in d.issues[:50]]}
                                                             for n, d in data.items()}})
        log.info("joined round %s: epsilon %g (%s)", task.round_id, plan.epsilon_spent, _purpose(plan))
        return m.JoinReply(task.round_id, True, "", key_pub, signature, self._cost(plan, sorted(names)))

    def _cost(self, plan: NoisePlan, datasets: list[str]) -> m.PrivacyCost:
        return m.PrivacyCost(self.name, plan.epsilon_spent, MECHANISM, plan.marginal.d_in, plan.marginal.scale,
                             tuple(datasets), plan.joint.d_in, plan.joint.scale)

    def _load(self, ds: DatasetConfig, period: int) -> LoadedRecords:
        path = ds.file_for(period)
        if not path.exists():
            raise WijkindexError(f"dataset {ds.name}: no export for period {period} at {path}")
        fuzzy = bool(ds.identifiers) and not ds.spine
        # with identifiers, a missing or invalid BSN is not an error: the record links fuzzily
        cols = [ColumnSpec(name, "str" if fuzzy and (name == ds.id_column or name in ds.identifiers) else kind)  # type: ignore[arg-type]
                for name, kind in ds.columns.items()]
        loaded = load_records(path, cols, on_invalid=self.config.on_invalid, dataset=ds.name,
                              unique=ds.id_column if ds.spine else None)
        if fuzzy:
            self._split_bsns(loaded, ds, f"{path.parent.name}/{path.name}")
        if loaded.n_excluded:
            log.warning("%s: %d of %d records excluded (first: %s)", path, loaded.n_excluded, loaded.n_read,
                        loaded.issues[0] if loaded.issues else "")
        return loaded

    @staticmethod
    def _split_bsns(loaded: LoadedRecords, ds: DatasetConfig, name: str) -> None:
        """Normalise the BSNs of a dataset with identifiers; an invalid one is set to "" (the record
        then links on its identifiers) and noted with its file, row and column."""
        out = []
        for row, raw in enumerate(loaded.frame[ds.id_column].astype(str).tolist(), start=1):
            v = raw.strip()
            if not v:
                out.append("")
                continue
            try:
                out.append(normalise_bsn(v))
            except ValueError as exc:
                out.append("")
                loaded.issues.append(RecordIssue(Location(name, row, ds.id_column), shown_value(v, "bsn"),
                                                 f"{exc}; linked on its identifiers instead"))
        loaded.frame[ds.id_column] = out

    def _flagged_ids(self, ctx: RoundContext, indicator: str) -> np.ndarray:
        """Identifiers of the children for whom any record satisfies the indicator (counted once):
        BSNs at the spine node, spine pseudonyms (hex) at a source node once it has linked."""
        ind = self.config.indicator(indicator)
        ds = self.config.dataset(ind.dataset)
        frame = ctx.data[ind.dataset].frame
        col = frame[ind.column]
        if ind.equals is not None:
            hit = col.astype(str).str.strip().str.lower() == ind.equals.lower()
        elif ind.below is not None:
            hit = pd.to_numeric(col, errors="coerce") < ind.below
        else:
            hit = col.astype(bool)
        if LINK_COLUMN in frame.columns:
            linked = frame[LINK_COLUMN] != ""
            return frame.loc[(hit & linked).to_numpy(), LINK_COLUMN].unique()
        return frame.loc[hit.to_numpy(), ds.id_column].astype(str).unique()

    def _joint_levels(self, ctx: RoundContext, joint: JointIndicator) -> tuple[dict[str, int], bool]:
        """This node's part of a joint indicator: ({child id: levels to shift}, whether others drop out).

        ``all``: the children with every one of this node's attributes (shift 0); the others drop out.
        ``count``: how many of this node's attributes a child has, capped (children absent count 0).
        """
        mine = joint.at(self.name)
        if not mine:
            return {}, False
        hits = [set(self._flagged_ids(ctx, ind)) for ind in mine]
        if joint.kind == "all":
            return {i: 0 for i in set.intersection(*hits)}, True
        counts: dict[str, int] = {}
        for ids in hits:
            for i in ids:
                counts[i] = min(counts.get(i, 0) + 1, joint.cap)
        return counts, False

    def _joint_layout(self, ctx: RoundContext, joint: JointIndicator) -> PackingLayout:
        return joint_layout(ctx.layout, ctx.spec.levels(joint), ctx.public_key.bits)

    # ---- 2. seal (spine node) --------------------------------------------------------

    def _spine_cells(self, ctx: RoundContext) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
        """(bsn, cell index, spine row) for every child in the spine with a cell in this round."""
        ds = self.config.spine_dataset
        assert ds is not None
        frame = ctx.data[ds.name].frame.drop_duplicates(subset=[ds.id_column])
        area_col = "wijk_code" if ctx.spec.level == "wijk" else "buurt_code"
        areas = list(dict.fromkeys(c.area_code for c in ctx.cells))
        bands = [b.label for b in ctx.spec.age_bands]
        area_idx = frame[area_col].map({a: i for i, a in enumerate(areas)})
        ref = ctx.spec.reference_date
        born = pd.to_datetime(frame["geboortedatum"])
        age = ref.year - born.dt.year - ((born.dt.month > ref.month) |
                                         ((born.dt.month == ref.month) & (born.dt.day > ref.day))).astype(int)
        band_idx = age.map(lambda a: ctx.spec.band_of(int(a)))
        ok = area_idx.notna() & band_idx.notna()
        unplaced = int((~ok).sum())
        if unplaced:
            log.warning("spine: %d children outside the round's areas or age bands are left out", unplaced)
        ctx.report["spine_children"] = int(ok.sum())
        ctx.report["spine_unplaced"] = unplaced
        cell = area_idx[ok].astype(int).to_numpy() * len(bands) + band_idx[ok].astype(int).to_numpy()
        rows = frame.loc[ok.to_numpy()]
        return rows[ds.id_column].astype(str).to_numpy(), cell, rows

    def seal(self, stub: rpc.NodeExchangeStub, task: m.SealTask) -> None:
        ctx = self._context(task.round_id)
        spec = ctx.spec
        bsns, cells, rows = self._spine_cells(ctx)
        if task.recipients:
            warm_pool(ctx.public_key, len(bsns))
        n_cells = len(ctx.cells)
        if len(cells) and np.bincount(cells).max() >= PackingLayout(1, 20, 1).offset:
            raise WijkindexError("a cell holds more children than a packed slot can count")
        pseudo = Pseudonymiser(RoundKey.derive(self._secret, task.round_id))
        pseudonyms = pseudo.pseudonymise_many(list(bsns))
        slots = {j.name: self._spine_slots(ctx, j, bsns, cells) for j in spec.joint_for(self.name)}
        if task.recipients:
            total = len(pseudonyms)
            columns: dict[str, dict[str, list[bytes]]] = {r.party: {} for r in task.recipients}
            meta: dict[str, dict[bytes, bytes]] = {r.party: {} for r in task.recipients}
            forward = [(j, nxt) for j in spec.joint_for(self.name) if (nxt := spec.next_hop(j, self.name))]
            batches = [(ctx.layout, cells.tolist()), *((self._joint_layout(ctx, j), slots[j.name]) for j, _ in forward)]
            base, *joint_columns = seal_batches(
                ctx.public_key, batches,
                progress=self._step(f"sealing the spine and {len(forward)} joint indicator(s)", total * len(batches)))
            for r in task.recipients:
                columns[r.party]["sealed"] = base
            fuzzy = [r.party for r in task.recipients if spec.node(r.party).fuzzy]
            if fuzzy:  # keyed, balanced encodings of the spine, for the nodes that link without a BSN
                ds = self.config.spine_dataset
                assert ds is not None
                enc = encode_identifiers(rows, ds.identifiers, EncodingKey.derive(self._secret, task.round_id))
                for party in fuzzy:
                    columns[party]["encoding"] = enc.to_bytes()
            for (j, nxt), column in zip(forward, joint_columns):
                layout_j = self._joint_layout(ctx, j)
                columns[nxt][f"joint:{j.name}"] = column
                share = seal_noise(ctx.public_key, layout_j, ctx.plan.joint.sample(layout_j.n_cells))
                meta[nxt][f"noise:{j.name}".encode()] = self._ciphertexts_hex(ctx, share)
            order = sorted(range(len(pseudonyms)), key=pseudonyms.__getitem__)  # order leaks nothing
            stub.UploadRelay(self._relay_chunks(
                task.round_id, task.recipients, [pseudonyms[i] for i in order],
                {p: {c: [v[i] for i in order] for c, v in cols.items()} for p, cols in columns.items()}, meta))
        # the spine's own indicators, the population and its all-spine joint counts, noised in the clear
        index_of = dict(zip(bsns, cells))
        released = spec.joint_released_by(self.name)
        counts = [np.bincount(cells, minlength=n_cells)]
        for ind in spec.node(self.name).indicators:
            hit = [index_of[b] for b in self._flagged_ids(ctx, ind) if b in index_of]
            counts.append(np.bincount(np.asarray(hit, dtype=np.int64), minlength=n_cells))
        for j in released:
            hit = [s for s in slots[j.name] if s is not None]
            counts.append(np.bincount(np.asarray(hit, dtype=np.int64), minlength=self._joint_layout(ctx, j).n_cells))
        names = [POPULATION, *spec.node(self.name).indicators, *(j.name for j in released)]
        shares = [ctx.plan.marginal] * (len(names) - len(released)) + [ctx.plan.joint] * len(released)
        vectors = tuple(m.ReleasedVector(name, clear=tuple(share.add_to(c.astype(int).tolist())))
                        for name, c, share in zip(names, counts, shares))
        self._release(stub, ctx, task.round_id, vectors)

    def _spine_slots(self, ctx: RoundContext, joint: JointIndicator, bsns: np.ndarray,
                     cells: np.ndarray) -> list[int | None]:
        """Each spine child's slot in a joint's sealed vector (None: sealed zero, the child drops out)."""
        levels_of, drop = self._joint_levels(ctx, joint)
        n_levels = ctx.spec.levels(joint)
        out: list[int | None] = []
        for b, c in zip(bsns, cells.tolist()):
            k = levels_of.get(b)
            out.append(None if k is None and drop else c * n_levels + (k or 0))
        return out

    def _step(self, step: str, total: int) -> Callable[[int], None]:
        return lambda done: self.progress(step, done, total)

    @staticmethod
    def _ciphertexts_hex(ctx: RoundContext, cts: list[int]) -> bytes:
        return b"".join(ctx.public_key.ciphertext_to_bytes(c) for c in cts).hex().encode()

    def _relay_chunks(self, round_id: str, recipients: tuple[m.Recipient, ...], pseudonyms: list[bytes],
                      columns: dict[str, dict[str, list[bytes]]],
                      meta: dict[str, dict[bytes, bytes]]) -> Iterator[pb.RelayChunk]:
        """Arrow IPC chunks of (pseudonym, sealed columns...), enveloped per recipient.

        A recipient gets only its columns: the spine's cells (sources), and the joint
        columns of the chains whose next hop it is, with the sealed running noise share
        of each in the first chunk's metadata.
        """
        bounds = list(range(0, len(pseudonyms), RELAY_CHUNK_ROWS)) or [0]
        total = len(bounds)
        for r in recipients:
            if not columns.get(r.party):
                continue
            recipient_key = self._verified_envelope_key(round_id, r)
            names = sorted(columns[r.party])
            schema = pa.schema([("pseudonym", pa.binary(32)), *((c, pa.binary()) for c in names)])
            for seq, start in enumerate(bounds):
                arrays = [pa.array(pseudonyms[start:start + RELAY_CHUNK_ROWS], pa.binary(32))]
                arrays += [pa.array(columns[r.party][c][start:start + RELAY_CHUNK_ROWS], pa.binary()) for c in names]
                chunk_schema = schema.with_metadata(meta.get(r.party) or {}) if seq == 0 else schema
                sink = pa.BufferOutputStream()
                with pa.ipc.new_stream(sink, chunk_schema) as writer:
                    writer.write_table(pa.Table.from_arrays(arrays, schema=chunk_schema))
                env = seal_envelope(sink.getvalue().to_pybytes(), recipient_public=recipient_key,
                                    sender_key=self._signing_key,
                                    context=relay_context(round_id, self.name, r.party, seq, total))
                yield wire.chunk_to_proto(m.RelayChunk(round_id, r.party, seq, total, env))

    def _verified_envelope_key(self, round_id: str, r: m.Recipient) -> bytes:
        """The recipient's envelope key, only if its federation certificate signed it for this round."""
        verify_party_certificate(r.certificate_pem, self._ca_pem, expected=Identity("node", r.party))
        self._revoked.check(r.certificate_pem, "the recipient's certificate")
        from cryptography import x509

        cert_key = x509.load_pem_x509_certificate(r.certificate_pem).public_key()
        verify_envelope_key(r.envelope_public_key, r.key_signature, round_id=round_id, party=r.party,
                            signer_public_key=cert_key)  # type: ignore[arg-type]
        return r.envelope_public_key

    # ---- 3. aggregate (source node) ---------------------------------------------------

    def _open_relay(self, stub: rpc.NodeExchangeStub, ctx: RoundContext, task: m.AggregateTask) -> dict[str, Relay]:
        """Every relay addressed to this node, by sender, each checked complete and authentic."""
        assert ctx.envelope is not None
        keys = {}
        for s in task.senders:
            verify_party_certificate(s.certificate_pem, self._ca_pem, expected=Identity("node", s.party))
            self._revoked.check(s.certificate_pem, "the sender's certificate")
            from cryptography import x509

            keys[s.party] = x509.load_pem_x509_certificate(s.certificate_pem).public_key()
        relays = {p: Relay() for p in keys}
        for chunk in stub.FetchRelay(pb.FetchRelayRequest(round_id=task.round_id)):
            c = wire.chunk_from_proto(chunk)
            relay = relays.get(c.sender)
            if relay is None or c.recipient != self.name or c.seq in relay.seen or \
                    (relay.total is not None and c.total != relay.total):
                raise CryptoError(f"relay chunk {c.seq}/{c.total} from {c.sender!r} for {c.recipient} "
                                  "is misrouted or repeated")
            relay.total = c.total
            relay.seen.add(c.seq)
            plain = open_envelope(c.envelope, recipient=ctx.envelope, sender_public_key=keys[c.sender],  # type: ignore[arg-type]
                                  context=relay_context(task.round_id, c.sender, self.name, c.seq, c.total))
            table = pa.ipc.open_stream(plain).read_all()
            relay.add(table, ctx.public_key)
            self.progress(f"opening relay from {c.sender}", len(relay.seen), c.total)
        for p, relay in relays.items():
            if relay.total is None or relay.seen != set(range(relay.total)):
                raise CryptoError(f"relay from {p} incomplete: got chunks {sorted(relay.seen)} of {relay.total}")
        return relays

    def aggregate(self, stub: rpc.NodeExchangeStub, task: m.AggregateTask) -> None:
        ctx = self._context(task.round_id)
        spec = ctx.spec
        relays = self._open_relay(stub, ctx, task)
        if any(spec.next_hop(j, self.name) for j in spec.joint_for(self.name)):  # it will re-randomise
            warm_pool(ctx.public_key, max((len(r.order) for r in relays.values()), default=0))
        link_counts = self._link(ctx, relays, task.round_id)

        def joint_input(j: JointIndicator) -> tuple[Relay, dict[bytes, int], bool, list[int]]:
            chain = spec.chain(j)
            prev = relays.get(chain[chain.index(self.name) - 1])
            share = prev.shares.get(j.name) if prev else None
            layout_j = self._joint_layout(ctx, j)
            if prev is None or f"joint:{j.name}" not in prev.columns or share is None \
                    or len(share) != layout_j.n_ciphertexts:
                raise CryptoError(f"the relay carries no sealed cells or noise share for {j.name}")
            levels_of, drop = self._joint_levels(ctx, j)
            by_pseudonym = {bytes.fromhex(i): k for i, k in levels_of.items()}
            return prev, by_pseudonym, drop, share

        # forward the chains that pass through this node, shifted/conditioned and re-randomised
        forward_cols: dict[str, dict[str, list[bytes]]] = {}
        forward_meta: dict[str, dict[bytes, bytes]] = {}
        forward_order: list[bytes] | None = None
        for j in spec.joint_for(self.name):
            nxt = spec.next_hop(j, self.name)
            if nxt is None:
                continue
            prev, by_pseudonym, drop, share = joint_input(j)
            layout_j = self._joint_layout(ctx, j)
            order = prev.order
            if forward_order is not None and order != forward_order:
                raise CryptoError("relays disagree on the spine's children")
            forward_order = order
            column = prev.columns[f"joint:{j.name}"]
            shifts = [by_pseudonym.get(p, None if drop else 0) for p in order]
            forward_cols.setdefault(nxt, {})[f"joint:{j.name}"] = transform_sealed(
                ctx.public_key, layout_j, [column[p] for p in order], shifts,
                progress=self._step(f"forwarding {j.name}", len(order)))
            running = add_noise_sealed(ctx.public_key, layout_j, share, ctx.plan.joint.sample(layout_j.n_cells))
            forward_meta.setdefault(nxt, {})[f"noise:{j.name}".encode()] = self._ciphertexts_hex(ctx, running)
        if forward_cols:
            assert forward_order is not None
            stub.UploadRelay(self._relay_chunks(task.round_id, task.forward_to, forward_order, forward_cols,
                                                forward_meta))

        vectors = []
        for j in spec.joint_released_by(self.name):  # the chain's last node: aggregate, add every share
            prev, by_pseudonym, drop, share = joint_input(j)
            layout_j = self._joint_layout(ctx, j)
            column = prev.columns[f"joint:{j.name}"]
            if drop:
                agg = aggregate_sealed(ctx.public_key, layout_j, [column[p] for p in by_pseudonym if p in column])
            else:
                agg = aggregate_sealed(ctx.public_key, layout_j, [column[p] for p in prev.order],
                                       shifts=[by_pseudonym.get(p, 0) for p in prev.order])
            agg = [ctx.public_key.add(a, z) for a, z in zip(agg, share)]
            noised = add_noise_sealed(ctx.public_key, layout_j, agg, ctx.plan.joint.sample(layout_j.n_cells))
            vectors.append(m.ReleasedVector(j.name, sealed=tuple(ctx.public_key.ciphertext_to_bytes(c) for c in noised),
                                            noise_terms=len(spec.chain(j))))
        sealed = relays[spec.spine].columns.get("sealed", {}) if spec.spine in relays else {}
        indicators = spec.node(self.name).indicators
        stats: dict[str, dict[str, int]] = {}
        for i, ind in enumerate(indicators):
            ids = self._flagged_ids(ctx, ind)
            hits = [sealed[p] for p in map(bytes.fromhex, ids) if p in sealed]
            agg = aggregate_sealed(ctx.public_key, ctx.layout, hits)
            noised = add_noise_sealed(ctx.public_key, ctx.layout, agg, ctx.plan.marginal.sample(len(ctx.cells)))
            vectors.append(m.ReleasedVector(ind, sealed=tuple(ctx.public_key.ciphertext_to_bytes(c) for c in noised),
                                            noise_terms=1))
            stats[ind] = {"children_flagged": len(ids), "linked_to_spine": len(hits)}  # stays at the node
            self.progress("aggregating under encryption", i + 1, len(indicators))
        ctx.report["indicators"] = stats
        if spec.node(self.name).fuzzy:  # how this node's records linked, noised like every count
            vectors.append(m.ReleasedVector(LINKAGE, clear=tuple(ctx.plan.marginal.add_to(list(link_counts)))))
        self._release(stub, ctx, task.round_id, tuple(vectors))

    def _link(self, ctx: RoundContext, relays: dict[str, Relay], round_id: str) -> tuple[int, int, int]:
        """Give every record a link key: its spine child's pseudonym, by BSN or, for a record without
        a valid BSN, by its identifiers' encoding matched against the spine's. Returns the children
        linked exactly, the children linked only fuzzily, and the records that did not link."""
        pseudo = Pseudonymiser(RoundKey.derive(self._secret, round_id))
        encoding_key = EncodingKey.derive(self._secret, round_id)
        spine_relay = relays.get(ctx.spec.spine)
        sealed = spine_relay.columns.get("sealed", {}) if spine_relay else {}
        fuzzy = ctx.spec.node(self.name).fuzzy
        spine_enc = None
        exact: set[bytes] = set()
        fuzzy_linked: set[bytes] = set()
        unlinked_pseudonyms: set[bytes] = set()
        unlinked_records = 0
        report: dict[str, dict[str, int | float]] = {}
        for name, loaded in ctx.data.items():
            ds = self.config.dataset(name)
            frame = loaded.frame
            ids = frame[ds.id_column].astype(str).to_numpy()
            has = ids != ""
            ps = pseudo.pseudonymise_many(ids[has].tolist())
            link = np.full(len(frame), "", dtype=object)
            link[has] = [p.hex() for p in ps]
            for p in ps:
                (exact if p in sealed else unlinked_pseudonyms).add(p)
            no_bsn = np.nonzero(~has)[0]
            linked_fuzzily = 0
            if len(no_bsn) and fuzzy and ds.identifiers:
                if spine_relay is None or "encoding" not in spine_relay.columns:
                    raise CryptoError("the spine's relay carries no encodings, but this node links fuzzily")
                if spine_enc is None:
                    spine_enc = spine_encodings([spine_relay.columns["encoding"][p] for p in spine_relay.order])
                self.progress(f"linking {name} records without a BSN", 0, len(no_bsn))
                links = link_without_bsn(frame.iloc[no_bsn], ds.identifiers, spine_enc, encoding_key)
                for i, j in zip(links.record_rows.tolist(), links.spine_rows.tolist()):
                    key = spine_relay.order[j]
                    link[no_bsn[i]] = key.hex()
                    fuzzy_linked.add(key)
                linked_fuzzily = len(links.record_rows)
                self.progress(f"linking {name} records without a BSN", len(no_bsn), len(no_bsn))
                if links.result is not None:
                    report[name] = {"without_bsn": len(no_bsn), "linked_fuzzily": linked_fuzzily,
                                    "threshold": round(links.result.threshold, 4)}
            unlinked_records += len(no_bsn) - linked_fuzzily
            frame[LINK_COLUMN] = link
        counts = (len(exact), len(fuzzy_linked - exact), len(unlinked_pseudonyms) + unlinked_records)
        ctx.report["fuzzy_linkage"] = report  # these stay at the node, un-noised
        ctx.report["linkage_counts"] = list(counts)
        return counts

    # ---- release ------------------------------------------------------------------------

    def _context(self, round_id: str) -> RoundContext:
        ctx = self.rounds.get(round_id)
        if ctx is None:
            raise WijkindexError(f"node {self.name} has no state for round {round_id} (restarted after joining?)")
        return ctx

    def _release(self, stub: rpc.NodeExchangeStub, ctx: RoundContext, round_id: str,
                 vectors: tuple[m.ReleasedVector, ...]) -> None:
        datasets = sorted(ctx.data)
        charged = {e.dataset for e in self.ledger.entries() if e.round_id == round_id}
        if not set(datasets) <= charged:  # the ledger is written before anything is released
            raise WijkindexError(f"refusing to release round {round_id}: ledger has no entry for "
                                 f"{sorted(set(datasets) - charged)}")
        stub.SubmitRelease(wire.release_to_proto(m.NodeRelease(round_id, vectors, self._cost(ctx.plan, datasets))))
        self._write_report(round_id, ctx)
        self.rounds.pop(round_id, None)
        log.info("released round %s: %d vectors", round_id, len(vectors))

    def _write_report(self, round_id: str, ctx: RoundContext) -> None:
        """The node's own record of the round (stays at the holder): what was read, excluded, linked."""
        self.reports_dir.mkdir(parents=True, exist_ok=True)
        ctx.report["epsilon"] = ctx.plan.epsilon_spent
        ctx.report["finished"] = date.today().isoformat()
        tmp = self.reports_dir / f".{round_id}.json.tmp"
        tmp.write_text(json.dumps(ctx.report, indent=2, default=str))
        tmp.replace(self.reports_dir / f"{round_id}.json")


def _purpose(plan: NoisePlan) -> str:
    """What a ledger entry bought, in words."""
    text = f"marginal vectors of L1 sensitivity {plan.marginal.d_in} at discrete Laplace scale {plan.marginal.scale:g}"
    if plan.joint.d_in:
        text += f"; joint shares of sensitivity {plan.joint.d_in} at scale {plan.joint.scale:g}"
    return text
