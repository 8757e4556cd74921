"""What a node's steps work with: the party (its keys, ledger, config) and one round's state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from cryptography.hazmat.primitives.asymmetric import ec

from wijkindex.config import NodeConfig
from wijkindex.linkage.pseudonym import LinkageSecret
from wijkindex.linkage.records import LoadedRecords
from wijkindex.privacy.ledger import Charge, PrivacyLedger
from wijkindex.privacy.noise import NoisePlan
from wijkindex.protocol import messages as m
from wijkindex.protocol.envelope import EnvelopeKeyPair
from wijkindex.protocol.packing import PackingLayout
from wijkindex.protocol.paillier import PaillierPublicKey
from wijkindex.protocol.sealing import joint_layout
from wijkindex.protocol.spec import JointIndicator, RoundSpec
from wijkindex.security.revocation import RevocationList
from wijkindex.vocabulary import MECHANISM

LINK_COLUMN = "_link"  # at a source node: each record's spine pseudonym (hex), "" if it did not link

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Party:
    """One data holder as its steps see it. Key bytes stay inside the key objects."""

    config: NodeConfig
    secret: LinkageSecret
    signing_key: ec.EllipticCurvePrivateKey
    ca_pem: bytes
    revoked: RevocationList
    ledger: PrivacyLedger
    progress: Progress

    @property
    def name(self) -> str:
        return self.config.name

    def step(self, label: str, total: int) -> Callable[[int], None]:
        return lambda done: self.progress(label, done, total)


@dataclass(frozen=True)
class SpinePlacement:
    """The spine's children with a cell in this round: BSN, cell index, and their spine rows."""

    bsns: np.ndarray
    cells: np.ndarray
    rows: object  # the spine frame's rows of these children (pandas), for encodings
    ages: np.ndarray | None = None  # each child's age on the reference date (indicator scopes)


@dataclass
class RoundContext:
    """What a node keeps about one round between its steps (in memory; the journal is in the ledger)."""

    spec_toml: str
    spec: RoundSpec
    plan: NoisePlan
    public_key: PaillierPublicKey
    layout: PackingLayout
    cells: tuple[m.Cell, ...]
    binding: bytes  # protocol.parameters.round_binding: in every envelope and envelope-key signature
    data: dict[str, LoadedRecords]
    digests: dict[str, str]  # dataset -> SHA-256 of its export's content (the ledger's key)
    envelope: EnvelopeKeyPair | None
    placement: SpinePlacement | None = None
    charges: list[Charge] = field(default_factory=list)  # checked at join, recorded at release
    report: dict[str, object] = field(default_factory=dict)
    config: NodeConfig | None = None  # as read at this round's join (datasets.toml re-read per round)

    @property
    def mapping(self) -> NodeConfig:
        """The node config this round joined with: every step of the round reads its datasets by it."""
        assert self.config is not None, "a round's context gets its config at join"
        return self.config

    @property
    def round_id(self) -> str:
        return self.spec.round_id

    def joint_layout(self, joint: JointIndicator) -> PackingLayout:
        return joint_layout(self.layout, self.spec.levels(joint), self.public_key.bits)


@dataclass(frozen=True)
class StepOutput:
    """What a step sends, once the ledger has recorded it: relay chunks first, then the release."""

    release: m.NodeRelease
    relay: tuple[m.RelayChunk, ...] = ()


def charges(spec: RoundSpec, plan: NoisePlan, digests: dict[str, str], spine_dataset: str | None) -> list[Charge]:
    """What this round costs each dataset the node uses (docs/privacy.md).

    A dataset pays the node's own release. The spine dataset pays every release of the round,
    since each node's counts are sums over the cells the spine gives its children.
    """
    out = []
    for ds, digest in sorted(digests.items()):
        if ds == spine_dataset:
            out.append(Charge(ds, digest, spec.epsilon_of_round(),
                              f"population spine of the round: every node's release ({', '.join(spec.parties)}) "
                              f"sums over its cells; own release: {purpose_of(plan)}"))
        else:
            out.append(Charge(ds, digest, plan.epsilon_spent, purpose_of(plan)))
    return out


def purpose_of(plan: NoisePlan) -> str:
    """What a ledger entry bought, in words."""
    text = f"marginal vectors of L1 sensitivity {plan.marginal.d_in} at discrete Laplace scale {plan.marginal.scale:g}"
    if plan.joint.d_in:
        text += f"; joint shares of sensitivity {plan.joint.d_in} at scale {plan.joint.scale:g}"
    return text


def cost_of(party: str, plan: NoisePlan, datasets: list[str]) -> m.PrivacyCost:
    return m.PrivacyCost(party, plan.epsilon_spent, MECHANISM, plan.marginal.d_in, plan.marginal.scale,
                         tuple(datasets), plan.joint.d_in, plan.joint.scale)
