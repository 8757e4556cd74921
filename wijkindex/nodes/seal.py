"""Step 2, seal (the spine node): seal each child's cell for the round's sources, release its own counts.

Checks first: the recipients are exactly the nodes the signed spec says the spine relays
to, each with a valid, unrevoked node certificate of its own name that signed its
envelope key under this round's parameters. Then: pseudonymise, seal each child's one-hot
cell (and the spine's slot of every joint indicator it starts) under the round's Paillier
key, envelope the padded relay for each recipient, and noise its own counts in the clear.
"""

from __future__ import annotations

import numpy as np

from wijkindex.errors import CryptoError, WijkindexError
from wijkindex.linkage.fuzzy import spine_candidates
from wijkindex.linkage.pseudonym import EncodingKey, Pseudonymiser, RoundKey
from wijkindex.nodes.context import Party, RoundContext, StepOutput, cost_of
from wijkindex.nodes.join import verified_peer_key
from wijkindex.nodes.loading import flagged_ids, joint_levels, own_cells, spine_ids_of_ages
from wijkindex.protocol import messages as m
from wijkindex.protocol import relay
from wijkindex.protocol.packing import PackingLayout
from wijkindex.protocol.sealing import seal_batches, seal_noise, warm_pool
from wijkindex.protocol.spec import JointIndicator
from wijkindex.vocabulary import POPULATION


def expected_edges(ctx: RoundContext, party: str) -> tuple[set[str], set[str]]:
    """(senders to, recipients from) this node in the signed spec's relay graph."""
    edges = ctx.spec.relay_edges()
    return {s for s, r in edges if r == party}, {r for s, r in edges if s == party}


def check_peers(got: tuple[m.Recipient, ...], expected: set[str], what: str) -> None:
    names = [r.party for r in got]
    if len(names) != len(set(names)) or set(names) != expected:
        raise CryptoError(f"the task names {what} {sorted(names)}; the signed spec names {sorted(expected)}")


def seal(party: Party, ctx: RoundContext, task: m.SealTask) -> StepOutput:
    spec = ctx.spec
    _, recipients_expected = expected_edges(ctx, party.name)
    check_peers(task.recipients, recipients_expected, "recipients")
    keys = {r.party: verified_peer_key(party, r, ctx, f"recipient {r.party}") for r in task.recipients}
    placement = ctx.placement
    assert placement is not None
    bsns, cells = placement.bsns, placement.cells
    if task.recipients:
        warm_pool(ctx.public_key, len(bsns))
    n_cells = len(ctx.cells)
    if len(cells) and np.bincount(cells).max() >= PackingLayout(1, 20, 1).offset:
        raise WijkindexError("a cell holds more children than a packed slot can count")
    pseudonyms = Pseudonymiser(RoundKey.derive(party.secret, task.round_id)).pseudonymise_many(list(bsns))
    slots = {j.name: spine_slots(party, ctx, j, bsns, cells) for j in spec.joint_for(party.name)}
    mine = own_cells(spec, party.name, ctx.cells)  # a region's spine counts (and noises) its own gemeente only
    chunks: list[m.RelayChunk] = []
    if task.recipients:
        columns: dict[str, dict[str, list[bytes]]] = {r.party: {} for r in task.recipients}
        shares: dict[str, dict[str, list[int]]] = {r.party: {} for r in task.recipients}
        forward = [(j, nxt) for j in spec.joint_for(party.name) if (nxt := spec.next_hop(j, party.name))]
        batches = [(ctx.layout, cells.tolist()), *((ctx.joint_layout(j), slots[j.name]) for j, _ in forward)]
        base, *joint_columns = seal_batches(
            ctx.public_key, batches,
            progress=party.step(f"sealing the spine and {len(forward)} joint indicator(s)", len(bsns) * len(batches)))
        for r in task.recipients:
            columns[r.party][relay.SEALED] = base
        fuzzy = [r.party for r in task.recipients if spec.node(r.party).fuzzy]
        if fuzzy:  # keyed, balanced encodings of the spine, for the nodes that link without a BSN
            ds = ctx.mapping.spine_dataset
            assert ds is not None
            cand = spine_candidates(placement.rows, ds.identifiers, EncodingKey.derive(party.secret, task.round_id))
            for p in fuzzy:
                columns[p][relay.ENCODING] = cand.encodings.to_bytes()
                columns[p][relay.BLOCK] = list(cand.blocks)
        for (j, nxt), column in zip(forward, joint_columns):
            layout_j = ctx.joint_layout(j)
            columns[nxt][relay.joint_column(j.name)] = column
            share = np.asarray(ctx.plan.joint.sample(layout_j.n_cells), dtype=np.int64)
            share[~np.repeat(mine, spec.levels(j))] = 0  # a region's spine noises its own gemeente's cells
            shares[nxt][j.name] = seal_noise(ctx.public_key, layout_j, share.tolist(), len(spec.joint_noise_parties(j)))
        order = sorted(range(len(pseudonyms)), key=pseudonyms.__getitem__)  # order leaks nothing
        ordered = [pseudonyms[i] for i in order]
        for r in task.recipients:
            if not columns[r.party]:
                continue
            chunks += relay.build_chunks(task.round_id, ctx.binding, party.name, r.party, keys[r.party],
                                         party.signing_key, ordered,
                                         {c: [v[i] for i in order] for c, v in columns[r.party].items()},
                                         relay.noise_meta(shares[r.party], ctx.public_key))
    # the spine's own releases (spec.releases): indicators, population counts, all-spine joint counts,
    # counted and noised in the clear
    index_of = dict(zip(bsns, cells))
    joints = {j.name: j for j in spec.joint}

    def counts_of(ids) -> np.ndarray:  # type: ignore[no-untyped-def]
        hit = [index_of[b] for b in ids if b in index_of]
        return np.bincount(np.asarray(hit, dtype=np.int64), minlength=n_cells)

    vectors = []
    for out in spec.releases(party.name):
        if out.joint:
            hit = [s for s in slots[out.name] if s is not None]
            c = np.bincount(np.asarray(hit, dtype=np.int64), minlength=ctx.joint_layout(joints[out.name]).n_cells)
        elif out.name == POPULATION:
            c = np.bincount(cells, minlength=n_cells)
        elif out.name.startswith(POPULATION):
            c = counts_of(spine_ids_of_ages(ctx, *spec.denominator_ages(out.name)))
        else:
            c = counts_of(flagged_ids(ctx.mapping, ctx, out.name))
        noise = ctx.plan.joint if out.joint else ctx.plan.marginal
        noised = np.asarray(noise.add_to(c.astype(int).tolist()), dtype=np.int64)
        # cells of other gemeenten: no child of this spine, nothing released
        noised[~(np.repeat(mine, spec.levels(joints[out.name])) if out.joint else mine)] = 0
        vectors.append(m.ReleasedVector(out.name, clear=tuple(int(x) for x in noised)))
    release = m.NodeRelease(task.round_id, tuple(vectors), cost_of(party.name, ctx.plan, sorted(ctx.data)))
    return StepOutput(release, tuple(chunks))


def spine_slots(party: Party, ctx: RoundContext, joint: JointIndicator, bsns: np.ndarray,
                cells: np.ndarray) -> list[int | None]:
    """Each spine child's slot in a joint's sealed vector (None: sealed zero, the child drops out)."""
    levels_of, drop = joint_levels(ctx.mapping, ctx, joint)
    n_levels = ctx.spec.levels(joint)
    out: list[int | None] = []
    for b, c in zip(bsns, cells.tolist()):
        k = levels_of.get(b)
        out.append(None if k is None and drop else c * n_levels + (k or 0))
    return out
