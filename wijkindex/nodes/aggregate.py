"""Step 3, aggregate (a source node): open the relays, link, forward chain hops, aggregate and release.

Checks first: the spine, the senders and the next hops are exactly those of the signed
spec, each with a valid, unrevoked node certificate of its own name (a forward key signed
under this round's parameters); every relay chunk opens only under this round's binding,
arrives once, and every relay is complete.
"""

from __future__ import annotations

from typing import Callable, Iterable

from wijkindex.errors import CryptoError
from wijkindex.nodes.context import Party, RoundContext, StepOutput, cost_of
from wijkindex.nodes.join import verified_peer_key
from wijkindex.nodes.linking import link, spine_view
from wijkindex.nodes.loading import flagged_ids, joint_levels, population_ids
from wijkindex.nodes.seal import check_peers, expected_edges
from wijkindex.protocol import messages as m
from wijkindex.protocol import relay
from wijkindex.protocol.relay import Relay
from wijkindex.protocol.sealing import (add_noise_sealed, aggregate_sealed, merge_noise_shares, seal_noise,
                                       transform_sealed, warm_pool)
from wijkindex.protocol.spec import JointIndicator
from wijkindex.security.peers import verify_peer
from wijkindex.security.pki import Identity
from wijkindex.vocabulary import LINKAGE, POPULATION


def open_relays(party: Party, ctx: RoundContext, task: m.AggregateTask,
                fetch: Callable[[], Iterable[m.RelayChunk]]) -> dict[str, Relay]:
    """Every relay addressed to this node, by sender, each checked complete and authentic."""
    assert ctx.envelope is not None
    relays = {s.party: Relay(s.party, verify_peer(s.certificate_pem, party.ca_pem, party.revoked,
                                                  Identity("node", s.party), f"sender {s.party}"))
              for s in task.senders}
    for c in fetch():
        r = relays.get(c.sender)
        if r is None:
            raise CryptoError(f"relay chunk {c.seq}/{c.total} from {c.sender!r}, who is not a sender to this node")
        r.open(c, round_id=ctx.round_id, binding=ctx.binding, recipient=party.name, envelope=ctx.envelope,
               public_key=ctx.public_key)
        party.progress(f"opening relay from {c.sender}", len(r.chunks), c.total)
    for r in relays.values():
        r.check_complete(party.name)
    return relays


def aggregate(party: Party, ctx: RoundContext, task: m.AggregateTask,
              fetch: Callable[[], Iterable[m.RelayChunk]]) -> StepOutput:
    spec = ctx.spec
    if task.spine_party != ",".join(spec.spine_parties):
        raise CryptoError(f"the task names {task.spine_party!r} as the spine; the signed spec names "
                          f"{', '.join(spec.spine_parties)!r}")
    senders, recipients = expected_edges(ctx, party.name)
    check_peers(task.senders, senders, "senders")
    check_peers(task.forward_to, recipients, "next hops")
    forward_keys = {r.party: verified_peer_key(party, r, ctx, f"next hop {r.party}") for r in task.forward_to}
    relays = open_relays(party, ctx, task, fetch)
    if any(spec.next_hop(j, party.name) for j in spec.joint_for(party.name)):  # it will re-randomise
        warm_pool(ctx.public_key, max((len(r.order) for r in relays.values()), default=0))
    spine_relay = spine_view(ctx, relays)  # every spine's children, once
    link_counts = link(party, ctx, spine_relay)

    def joint_input(j: JointIndicator) -> tuple[Relay, dict[bytes, int], bool, list[int]]:
        hops = spec.previous_hops(j, party.name)
        parts = [relays.get(h) for h in hops]
        # after a region's spines: each child's cells from its own spine (spine_view), their shares summed
        prev = parts[0] if len(parts) == 1 else (spine_relay if all(parts) else None)
        shares = [r.shares.get(j.name) for r in parts if r is not None]
        n = ctx.joint_layout(j).n_ciphertexts
        if prev is None or not hops or len(shares) != len(hops) or any(sh is None or len(sh) != n for sh in shares) \
                or any(relay.joint_column(j.name) not in r.columns for r in parts if r is not None):
            raise CryptoError(f"the relay carries no sealed cells or noise share for {j.name}")
        share = merge_noise_shares(ctx.public_key, ctx.joint_layout(j), shares)  # type: ignore[arg-type]
        levels_of, drop = joint_levels(ctx.mapping, ctx, j)
        return prev, {bytes.fromhex(i): k for i, k in levels_of.items()}, drop, share

    # forward the chains that pass through this node, shifted/conditioned and re-randomised
    forward_cols: dict[str, dict[str, list[bytes]]] = {}
    forward_shares: dict[str, dict[str, list[int]]] = {}
    forward_order: list[bytes] | None = None
    for j in spec.joint_for(party.name):
        nxt = spec.next_hop(j, party.name)
        if nxt is None:
            continue
        prev, by_pseudonym, drop, share = joint_input(j)
        layout_j = ctx.joint_layout(j)
        if forward_order is not None and prev.order != forward_order:
            raise CryptoError("relays disagree on the spine's children")
        forward_order = prev.order
        column = prev.columns[relay.joint_column(j.name)]
        shifts = [by_pseudonym.get(p, None if drop else 0) for p in prev.order]
        forward_cols.setdefault(nxt, {})[relay.joint_column(j.name)] = transform_sealed(
            ctx.public_key, layout_j, [column[p] for p in prev.order], shifts,
            progress=party.step(f"forwarding {j.name}", len(prev.order)))
        forward_shares.setdefault(nxt, {})[j.name] = merge_noise_shares(  # still one offset per slot
            ctx.public_key, layout_j, [share, seal_noise(ctx.public_key, layout_j, ctx.plan.joint.sample(layout_j.n_cells),
                                                   len(spec.joint_noise_parties(j)))])
    out_chunks: list[m.RelayChunk] = []
    for nxt, cols in forward_cols.items():
        assert forward_order is not None
        out_chunks += relay.build_chunks(task.round_id, ctx.binding, party.name, nxt, forward_keys[nxt],
                                         party.signing_key, forward_order, cols,
                                         relay.noise_meta(forward_shares[nxt], ctx.public_key))

    vectors = []
    for j in spec.joint_released_by(party.name):  # the chain's last node: aggregate, add every share
        prev, by_pseudonym, drop, share = joint_input(j)
        layout_j = ctx.joint_layout(j)
        column = prev.columns[relay.joint_column(j.name)]
        if drop:
            agg = aggregate_sealed(ctx.public_key, layout_j, [column[p] for p in by_pseudonym if p in column])
        else:
            agg = aggregate_sealed(ctx.public_key, layout_j, [column[p] for p in prev.order],
                                   shifts=[by_pseudonym.get(p, 0) for p in prev.order])
        share = merge_noise_shares(ctx.public_key, layout_j, [share, seal_noise(  # every node's noise, one offset
            ctx.public_key, layout_j, ctx.plan.joint.sample(layout_j.n_cells), len(spec.joint_noise_parties(j)))])
        noised = [ctx.public_key.add(a, z) for a, z in zip(agg, share)]
        vectors.append(m.ReleasedVector(j.name, sealed=tuple(ctx.public_key.ciphertext_to_bytes(c) for c in noised),
                                        noise_terms=1))
    sealed = spine_relay.columns.get(relay.SEALED, {}) if spine_relay else {}
    marginal = [r for r in spec.releases(party.name) if not r.joint]  # indicators, population counts, linkage
    stats: dict[str, dict[str, int]] = {}
    for i, r in enumerate(marginal):
        if r.name == LINKAGE:  # how this node's records linked, noised like every count
            vectors.append(m.ReleasedVector(LINKAGE, clear=tuple(ctx.plan.marginal.add_to(list(link_counts)))))
            continue
        ids = (population_ids(ctx.mapping, ctx, r.name) if r.name.startswith(POPULATION)
               else flagged_ids(ctx.mapping, ctx, r.name))
        hits = [sealed[p] for p in map(bytes.fromhex, ids) if p in sealed]
        agg = aggregate_sealed(ctx.public_key, ctx.layout, hits)
        noised = add_noise_sealed(ctx.public_key, ctx.layout, agg, ctx.plan.marginal.sample(len(ctx.cells)))
        vectors.append(m.ReleasedVector(r.name, sealed=tuple(ctx.public_key.ciphertext_to_bytes(c) for c in noised),
                                        noise_terms=1))
        stats[r.name] = {"children_flagged": len(ids), "linked_to_spine": len(hits)}  # stays at the node
        party.progress("aggregating under encryption", i + 1, len(marginal))
    ctx.report["indicators"] = stats
    release = m.NodeRelease(task.round_id, tuple(vectors), cost_of(party.name, ctx.plan, sorted(ctx.data)))
    return StepOutput(release, tuple(out_chunks))
