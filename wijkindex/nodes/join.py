"""Step 1, join: check everything the JoinTask says against what the node can verify itself.

Checks, in order, each a refusal with nothing charged: the node never joined this round id
(its journal); the spec is signed by a federation coordinator whose certificate is valid and
not revoked, for this round id; the task's cells are the ones the coordinator signed; the
Paillier key is at least 2048 bits and sound; the task's packing layout is the one the node
computes from the signed spec and the key; the node offers what it is asked; its data is
usable; the budget fits. Then it records the join and sends a per-round envelope key signed
with its certificate key and bound to the round's parameters.
"""

from __future__ import annotations

import logging

from wijkindex.config import NodeConfig, reload_datasets
from wijkindex.errors import CryptoError, WijkindexError
from wijkindex.linkage.records import LoadedRecords
from wijkindex.nodes.context import Party, RoundContext, charges, cost_of, purpose_of
from wijkindex.nodes.loading import load_dataset, place_spine
from wijkindex.privacy.ledger import ReplayRefused
from wijkindex.protocol import messages as m
from wijkindex.protocol.envelope import EnvelopeKeyPair, sign_envelope_key, verify_envelope_key
from wijkindex.protocol.paillier import PaillierPublicKey
from wijkindex.protocol.parameters import (MIN_KEY_BITS, TEST_KEY_BITS, check_cells, check_layout, check_public_key,
                                           layout_for, round_binding)
from wijkindex.protocol.spec import RoundSpec
from wijkindex.security.peers import verify_peer
from wijkindex.security.pki import Identity
from wijkindex.security.signing import verify_spec

log = logging.getLogger("wijkindex.node")


class JoinRefused(WijkindexError):
    """The node will not take part in a round (the reason names what it cannot do)."""

    code = "WI630"
    value_free = True
    fix = "read the reason: correct the round spec, or the node's config or data, and start a new round"


def _refuse(text: str) -> JoinRefused:
    return JoinRefused(text, public=text)


def verify_task(party: Party, task: m.JoinTask) -> RoundContext:
    """The round's context from the verified spec, key, layout and binding (no data yet)."""
    if party.ledger.round_state(task.round_id) is not None:
        raise ReplayRefused(f"round {task.round_id}: this node joined it before; a second JoinTask is refused",
                            public=f"round {task.round_id}: this node joined it before; a second join is refused")
    signer = verify_spec(task.spec_toml, task.spec_signature, task.coordinator_certificate_pem, party.ca_pem)
    party.revoked.check(task.coordinator_certificate_pem, "the round spec's signing certificate")
    spec = RoundSpec.from_toml(task.spec_toml, source=f"spec of round {task.round_id}")
    if spec.round_id != task.round_id:
        raise CryptoError(f"the spec was signed for round {spec.round_id!r}, the task is for {task.round_id!r}")
    log.info("round %s: spec signed by %s", task.round_id, signer.uri)
    if party.name not in spec.parties:
        raise _refuse(f"node {party.name} is not part of this round")
    check_cells(task.cells, spec.cells_sha256, [b.label for b in spec.age_bands])
    key = PaillierPublicKey.from_bytes(task.paillier_public_key)
    check_public_key(key, min_bits=TEST_KEY_BITS if party.config.test_only_small_keys else MIN_KEY_BITS)
    layout = layout_for(len(task.cells), key.bits, spec.slot_bits)
    check_layout(task.layout, layout)
    binding = round_binding(task.spec_toml, task.paillier_public_key, layout, task.cells)
    ctx = RoundContext(spec_toml=task.spec_toml, spec=spec, plan=spec.noise_plan(party.name), public_key=key,
                       layout=layout, cells=task.cells, binding=binding, data={}, digests={}, envelope=None)
    for j in spec.joint_for(party.name):
        try:
            ctx.joint_layout(j)
        except ValueError as exc:
            raise CryptoError(f"joint indicator {j.name}: {exc}") from None
    return ctx


def datasets_for(party: Party, spec: RoundSpec, cfg: NodeConfig) -> set[str]:
    """The datasets the round asks of this node, or a refusal saying what it cannot serve."""
    req = spec.node(party.name)
    offered = [i.name for i in cfg.indicators]
    joint_attrs = [a for j in spec.joint_for(party.name) for a in spec.joint_at(j, party.name)]
    missing = list(dict.fromkeys(i for i in (*req.indicators, *joint_attrs) if i not in offered))
    if missing:
        raise _refuse(f"node {party.name} does not offer indicator(s) {', '.join(missing)}; "
                      f"it offers {', '.join(offered)}")
    is_spine = spec.is_spine(party.name)
    if is_spine and cfg.spine_dataset is None:
        raise _refuse(f"node {party.name} holds no spine dataset")
    names = {cfg.indicator(i).dataset for i in (*req.indicators, *joint_attrs)}
    if is_spine:
        names.add(cfg.spine_dataset.name)  # type: ignore[union-attr]
    fuzzy_nodes = [n.party for n in spec.nodes if n.fuzzy]
    if is_spine and fuzzy_nodes and not cfg.spine_dataset.identifiers:  # type: ignore[union-attr]
        raise _refuse(f"node(s) {', '.join(fuzzy_nodes)} link fuzzily, but the spine dataset "
                      f"{cfg.spine_dataset.name!r} declares no identifiers")  # type: ignore[union-attr]
    if req.fuzzy and not any(cfg.dataset(n).identifiers for n in names):
        raise _refuse(f"node {party.name} is asked to link fuzzily, but none of its datasets "
                      f"({', '.join(sorted(names))}) declares identifiers")
    return names


def join(party: Party, task: m.JoinTask) -> tuple[m.JoinReply, RoundContext]:
    """Verify, load, check the budget, record the join; the reply to send and the round's context."""
    ctx = verify_task(party, task)
    spec = ctx.spec
    cfg = ctx.config = reload_datasets(party.config)  # a corrected mapping applies from this round on
    names = datasets_for(party, spec, cfg)
    data: dict[str, LoadedRecords] = {}
    for n in sorted(names):
        data[n], ctx.digests[n] = load_dataset(cfg, cfg.dataset(n), spec)
    ctx.data = data
    spine_ds = cfg.spine_dataset.name if spec.is_spine(party.name) else None  # type: ignore[union-attr]
    if spine_ds:
        ctx.placement, counts = place_spine(cfg, spec, task.cells, data[spine_ds])
        ctx.report.update(counts)
    ctx.charges = charges(spec, ctx.plan, ctx.digests, spine_ds)
    for c in ctx.charges:  # all checked first: a refusal charges nothing
        if not party.ledger.would_fit(c.dataset, spec.period, c.epsilon, c.content_sha256):
            spent = party.ledger.spent(c.dataset, spec.period, c.content_sha256)
            raise _refuse(f"privacy budget of dataset {c.dataset!r} for period {spec.period} would be exceeded: "
                          f"spent {spent:g} + {c.epsilon:g} > total {party.ledger.total:g}")
    party.ledger.begin_round(task.round_id, spec.period)
    envelope = None if spine_ds else EnvelopeKeyPair.generate()
    ctx.envelope = envelope
    key_pub = envelope.public_bytes() if envelope else b""
    signature = sign_envelope_key(key_pub, round_id=task.round_id, party=party.name, signer=party.signing_key,
                                  binding=ctx.binding) if envelope else b""
    ctx.report.update({"round_id": task.round_id,
                       "datasets": {n: {"read": d.n_read, "excluded": d.n_excluded, "sha256": ctx.digests[n],
                                        "issues": [str(i) for i in d.issues[:50]]} for n, d in data.items()}})
    log.info("joined round %s: epsilon %g at release (%s)", task.round_id, ctx.plan.epsilon_spent,
             purpose_of(ctx.plan))
    return m.JoinReply(task.round_id, True, "", key_pub, signature, cost_of(party.name, ctx.plan, sorted(names))), ctx


def verified_peer_key(party: Party, r: m.Recipient, ctx: RoundContext, what: str) -> bytes:
    """A recipient's envelope key, only if its own certificate signed it for this round's parameters."""
    cert_key = verify_peer(r.certificate_pem, party.ca_pem, party.revoked, Identity("node", r.party), what)
    verify_envelope_key(r.envelope_public_key, r.key_signature, round_id=ctx.round_id, party=r.party,
                        signer_public_key=cert_key, binding=ctx.binding)
    return r.envelope_public_key
