"""The one place where domain messages meet protobuf: paired ``x_to_proto`` / ``x_from_proto``.

Role code (aggregator, nodes, clients) never builds generated classes itself.
"""

from __future__ import annotations

from typing import Iterable

from wijkindex.proto import wijkindex_pb2 as pb
from wijkindex.protocol import messages as m


def layout_to_proto(x: m.Layout) -> pb.Layout:
    return pb.Layout(n_cells=x.n_cells, slot_bits=x.slot_bits, slots_per_ciphertext=x.slots_per_ciphertext)


def layout_from_proto(x: pb.Layout) -> m.Layout:
    return m.Layout(x.n_cells, x.slot_bits, x.slots_per_ciphertext)


def cells_to_proto(cells: Iterable[m.Cell]) -> list[pb.Cell]:
    return [pb.Cell(area_code=c.area_code, area_name=c.area_name, age_band=c.age_band, members=list(c.members))
            for c in cells]


def cells_from_proto(cells: Iterable[pb.Cell]) -> tuple[m.Cell, ...]:
    return tuple(m.Cell(c.area_code, c.area_name, c.age_band, tuple(c.members)) for c in cells)


def cost_to_proto(x: m.PrivacyCost) -> pb.PrivacyCost:
    return pb.PrivacyCost(party=x.party, epsilon=x.epsilon, mechanism=x.mechanism, d_in=x.d_in,
                          scale=x.scale, datasets=list(x.datasets), joint_d_in=x.joint_d_in,
                          joint_scale=x.joint_scale)


def cost_from_proto(x: pb.PrivacyCost) -> m.PrivacyCost:
    return m.PrivacyCost(x.party, x.epsilon, x.mechanism, x.d_in, x.scale, tuple(x.datasets), x.joint_d_in,
                         x.joint_scale)


def task_to_proto(task: m.Task | None, task_id: str = "") -> pb.Task:
    if task is None:
        return pb.Task()
    if isinstance(task, m.JoinTask):
        return pb.Task(task_id=task_id, join=pb.JoinTask(
            round_id=task.round_id, spec_toml=task.spec_toml, paillier_public_key=task.paillier_public_key,
            layout=layout_to_proto(task.layout),
            cells=cells_to_proto(task.cells),
            spec_signature=task.spec_signature, coordinator_certificate_pem=task.coordinator_certificate_pem))
    if isinstance(task, m.SealTask):
        return pb.Task(task_id=task_id, seal=pb.SealTask(round_id=task.round_id,
                                                         recipients=[_recipient(r) for r in task.recipients]))
    return pb.Task(task_id=task_id, aggregate=pb.AggregateTask(
        round_id=task.round_id, spine_party=task.spine_party, spine_certificate_pem=task.spine_certificate_pem,
        senders=[_recipient(r) for r in task.senders], forward_to=[_recipient(r) for r in task.forward_to]))


def _recipient(r: m.Recipient) -> pb.Recipient:
    return pb.Recipient(party=r.party, envelope_public_key=r.envelope_public_key,
                        key_signature=r.key_signature, certificate_pem=r.certificate_pem)


def _recipients(rs: Iterable[pb.Recipient]) -> tuple[m.Recipient, ...]:
    return tuple(m.Recipient(r.party, r.envelope_public_key, r.key_signature, r.certificate_pem) for r in rs)


def task_from_proto(x: pb.Task) -> m.Task | None:
    kind = x.WhichOneof("kind")
    if kind == "join":
        j = x.join
        return m.JoinTask(j.round_id, j.spec_toml, j.paillier_public_key, layout_from_proto(j.layout),
                          cells_from_proto(j.cells),
                          j.spec_signature, j.coordinator_certificate_pem)
    if kind == "seal":
        return m.SealTask(x.seal.round_id, _recipients(x.seal.recipients))
    if kind == "aggregate":
        a = x.aggregate
        return m.AggregateTask(a.round_id, a.spine_party, a.spine_certificate_pem, _recipients(a.senders),
                               _recipients(a.forward_to))
    return None


def join_to_proto(x: m.JoinReply) -> pb.JoinRoundRequest:
    return pb.JoinRoundRequest(round_id=x.round_id, accept=x.accept, reason=x.reason,
                               envelope_public_key=x.envelope_public_key, key_signature=x.key_signature,
                               cost=cost_to_proto(x.cost) if x.cost else None)


def join_from_proto(x: pb.JoinRoundRequest) -> m.JoinReply:
    return m.JoinReply(x.round_id, x.accept, x.reason, x.envelope_public_key, x.key_signature,
                       cost_from_proto(x.cost) if x.HasField("cost") else None)


def release_to_proto(x: m.NodeRelease) -> pb.Release:
    vectors = []
    for v in x.vectors:
        if v.sealed is not None:
            vectors.append(pb.ReleasedVector(indicator=v.indicator, sealed=pb.SealedCounts(
                ciphertexts=list(v.sealed), noise_terms=v.noise_terms)))
        else:
            vectors.append(pb.ReleasedVector(indicator=v.indicator, clear=pb.ClearCounts(values=list(v.clear or ()))))
    return pb.Release(round_id=x.round_id, vectors=vectors, cost=cost_to_proto(x.cost))


def release_from_proto(x: pb.Release) -> m.NodeRelease:
    vectors = []
    for v in x.vectors:
        if v.WhichOneof("payload") == "sealed":
            vectors.append(m.ReleasedVector(v.indicator, sealed=tuple(v.sealed.ciphertexts),
                                            noise_terms=v.sealed.noise_terms))
        else:
            vectors.append(m.ReleasedVector(v.indicator, clear=tuple(v.clear.values)))
    return m.NodeRelease(x.round_id, tuple(vectors), cost_from_proto(x.cost))


def chunk_to_proto(x: m.RelayChunk) -> pb.RelayChunk:
    return pb.RelayChunk(round_id=x.round_id, recipient=x.recipient, seq=x.seq, total=x.total, envelope=x.envelope,
                         sender=x.sender)


def chunk_from_proto(x: pb.RelayChunk) -> m.RelayChunk:
    return m.RelayChunk(x.round_id, x.recipient, x.seq, x.total, x.envelope, x.sender)


def status_to_proto(x: m.RoundStatus) -> pb.RoundStatus:
    return pb.RoundStatus(
        round_id=x.round_id, state=x.state, reason=x.reason,
        nodes=[pb.NodeState(party=n.party, state=n.state, detail=n.detail) for n in x.nodes],
        costs=[cost_to_proto(c) for c in x.costs], created_at=x.created_at, updated_at=x.updated_at,
        per_child_epsilon=x.per_child_epsilon)


def status_from_proto(x: pb.RoundStatus) -> m.RoundStatus:
    return m.RoundStatus(x.round_id, x.state, x.reason,
                         tuple(m.NodeState(n.party, n.state, n.detail) for n in x.nodes),
                         tuple(cost_from_proto(c) for c in x.costs), x.created_at, x.updated_at,
                         x.per_child_epsilon)


def summary_to_proto(x: m.RoundSummary) -> pb.RoundSummary:
    return pb.RoundSummary(round_id=x.round_id, state=x.state, period=x.period,
                           gemeente_code=x.gemeente_code, updated_at=x.updated_at)


def summary_from_proto(x: pb.RoundSummary) -> m.RoundSummary:
    return m.RoundSummary(x.round_id, x.state, x.period, x.gemeente_code, x.updated_at)
