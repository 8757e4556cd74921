"""Domain messages of a round: what the aggregator asks of nodes and what they send back.

These dataclasses are what role code reads and writes; ``wijkindex.wire`` is the one
place that turns them into protobuf and back.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cell:
    """One cell of the round's geography (area x age band), in the round's fixed order.

    ``members``: the other area codes whose children count in this cell (small or uninhabited
    areas the geography folded into this one); a spine child whose record names one of them is
    placed here. Signed with the cells (``cells_sha256``)."""

    area_code: str
    area_name: str
    age_band: str
    members: tuple[str, ...] = ()

    def __post_init__(self) -> None:  # a list from JSON or protobuf: kept as a tuple (hashable, comparable)
        object.__setattr__(self, "members", tuple(self.members))


@dataclass(frozen=True)
class Layout:
    n_cells: int
    slot_bits: int
    slots_per_ciphertext: int


@dataclass(frozen=True)
class JoinTask:
    round_id: str
    spec_toml: str  # exactly as the coordinator signed it
    paillier_public_key: bytes
    layout: Layout
    cells: tuple[Cell, ...]
    spec_signature: bytes = b""
    coordinator_certificate_pem: bytes = b""


@dataclass(frozen=True)
class Recipient:
    """A node that receives the sealed spine, with its per-round envelope key and proof of it."""

    party: str
    envelope_public_key: bytes
    key_signature: bytes
    certificate_pem: bytes


@dataclass(frozen=True)
class SealTask:
    round_id: str
    recipients: tuple[Recipient, ...]


@dataclass(frozen=True)
class AggregateTask:
    """Open the relays addressed to this node, forward chain hops, aggregate and release."""

    round_id: str
    spine_party: str
    spine_certificate_pem: bytes
    senders: tuple[Recipient, ...] = ()
    forward_to: tuple[Recipient, ...] = ()


Task = JoinTask | SealTask | AggregateTask


@dataclass(frozen=True)
class PrivacyCost:
    """What one node's release costs, as computed by OpenDP at the node."""

    party: str
    epsilon: float
    mechanism: str
    d_in: int  # the marginal vectors: L1 sensitivity per child and scale
    scale: float
    datasets: tuple[str, ...] = ()
    joint_d_in: int = 0  # the joint-indicator noise shares
    joint_scale: float = 0.0


@dataclass(frozen=True)
class JoinReply:
    round_id: str
    accept: bool
    reason: str = ""
    envelope_public_key: bytes = b""
    key_signature: bytes = b""
    cost: PrivacyCost | None = None


@dataclass(frozen=True)
class ReleasedVector:
    """One indicator's per-cell counts: noised in the clear, or sealed with noise inside."""

    indicator: str
    clear: tuple[int, ...] | None = None
    sealed: tuple[bytes, ...] | None = None
    noise_terms: int = 1


@dataclass(frozen=True)
class NodeRelease:
    round_id: str
    vectors: tuple[ReleasedVector, ...]
    cost: PrivacyCost


@dataclass(frozen=True)
class RelayChunk:
    round_id: str
    recipient: str
    seq: int
    total: int
    envelope: bytes
    sender: str = ""


@dataclass(frozen=True)
class NodeState:
    party: str
    state: str
    detail: str = ""


@dataclass(frozen=True)
class RoundStatus:
    round_id: str
    state: str
    reason: str
    nodes: tuple[NodeState, ...]
    costs: tuple[PrivacyCost, ...]
    created_at: str
    updated_at: str
    per_child_epsilon: float

    @property
    def finished(self) -> bool:
        return self.state in ("completed", "failed")


@dataclass(frozen=True)
class RoundSummary:
    round_id: str
    state: str
    period: int
    gemeente_code: str
    updated_at: str
