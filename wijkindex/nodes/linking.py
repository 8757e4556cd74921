"""A source node's linkage: every record gets its spine child's pseudonym, or none.

By BSN (keyed pseudonym) or, for a record without a valid BSN at a fuzzy node, by its
identifiers' keyed encoding matched against the spine's. The counts it returns are the
node's linkage report (released noised); the details stay at the node.
"""

from __future__ import annotations

import numpy as np

from wijkindex.errors import CryptoError
from wijkindex.linkage.fuzzy import link_without_bsn, linkage_report, spine_encodings
from wijkindex.linkage.pseudonym import EncodingKey, Pseudonymiser, RoundKey
from wijkindex.nodes.context import LINK_COLUMN, Party, RoundContext
from wijkindex.protocol import relay
from wijkindex.protocol.relay import Relay


def spine_view(ctx: RoundContext, relays: dict[str, Relay]) -> Relay | None:
    """The spine relays as one: a gemeente round's spine, or every spine of a region round
    (each gemeente's children). A child two spines both place (registered in two gemeenten on
    the reference date) is taken from the first spine in the spec's order only, and counted in
    the node's report: each child then reaches one cell, as the sensitivity assumes."""
    parts = [relays[p] for p in ctx.spec.spine_parties if p in relays]
    if len(parts) <= 1:
        return parts[0] if parts else None
    view = Relay("+".join(r.sender for r in parts), parts[0].sender_key)
    seen: set[bytes] = set()
    duplicates = 0
    for r in parts:
        for p in r.order:
            if p in seen:
                duplicates += 1
                continue
            seen.add(p)
            view.order.append(p)
            for col, values in r.columns.items():
                view.columns.setdefault(col, {})[p] = values[p]
    ctx.report["spine_duplicates"] = duplicates
    return view


def link(party: Party, ctx: RoundContext, spine_relay: Relay | None) -> tuple[int, int, int]:
    """Write each record's link key into the LINK_COLUMN of its frame, against ``spine_relay``
    (``spine_view`` of the round's relays). Returns the linkage
    report (``linkage_report``): spine children linked exactly, spine children linked only
    fuzzily, children not linked (BSNs not in the spine, identity groups without a BSN that did
    not link): each child in at most one bin, so the report has the node's link sensitivity."""
    pseudo = Pseudonymiser(RoundKey.derive(party.secret, ctx.round_id))
    encoding_key = EncodingKey.derive(party.secret, ctx.round_id)
    sealed = spine_relay.columns.get(relay.SEALED, {}) if spine_relay else {}
    fuzzy = ctx.spec.node(party.name).fuzzy
    spine_enc = None
    exact: set[bytes] = set()
    fuzzy_linked: set[bytes] = set()
    unlinked_pseudonyms: set[bytes] = set()
    unlinked_groups: set[object] = set()
    report: dict[str, dict[str, int | float | None]] = {}
    for name, loaded in ctx.data.items():
        ds = party.config.dataset(name)
        frame = loaded.frame
        ids = frame[ds.id_column].astype(str).to_numpy()
        has = ids != ""
        ps = pseudo.pseudonymise_many(ids[has].tolist())
        links = np.full(len(frame), "", dtype=object)
        links[has] = [p.hex() for p in ps]
        for p in ps:
            (exact if p in sealed else unlinked_pseudonyms).add(p)
        no_bsn = np.nonzero(~has)[0]
        if len(no_bsn) and fuzzy and ds.identifiers:
            if spine_relay is None or relay.ENCODING not in spine_relay.columns:
                raise CryptoError("the spine's relay carries no encodings, but this node links fuzzily")
            if spine_enc is None:
                spine_enc = spine_encodings([spine_relay.columns[relay.ENCODING][p] for p in spine_relay.order])
            party.progress(f"linking {name} records without a BSN", 0, len(no_bsn))
            found = link_without_bsn(frame.iloc[no_bsn], ds.identifiers, spine_enc, encoding_key)
            for i, j in zip(found.record_rows.tolist(), found.spine_rows.tolist()):
                key = spine_relay.order[j]
                links[no_bsn[i]] = key.hex()
                fuzzy_linked.add(key)
            unlinked_groups |= found.unlinked_keys
            party.progress(f"linking {name} records without a BSN", len(no_bsn), len(no_bsn))
            report[name] = {"without_bsn": len(no_bsn), "linked_fuzzily": len(found.record_rows),
                            "groups_not_linked": len(found.unlinked_keys),
                            "threshold": round(found.threshold, 4) if found.threshold is not None else None}
        frame[LINK_COLUMN] = links
    counts = linkage_report(exact, fuzzy_linked, unlinked_pseudonyms, unlinked_groups)
    ctx.report["fuzzy_linkage"] = report  # these stay at the node, un-noised
    ctx.report["linkage_counts"] = list(counts)
    return counts
