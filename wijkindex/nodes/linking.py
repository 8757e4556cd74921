"""A source node's linkage: every record gets its spine child's pseudonym, or none.

By BSN (keyed pseudonym) or, for a record without a valid BSN at a fuzzy node, by its
identifiers' keyed encoding matched against the spine's. The counts it returns are the
node's linkage report (released noised); the details stay at the node.
"""

from __future__ import annotations

import numpy as np

from wijkindex.errors import CryptoError
import pandas as pd

from wijkindex.linkage.fuzzy import by_kind, link_without_bsn, linkage_report, spine_from_relay
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
    exact: set[bytes] = set()
    fuzzy_linked: set[bytes] = set()
    unlinked_pseudonyms: set[bytes] = set()
    unlinked_groups: set[object] = set()
    report: dict[str, dict[str, int | float | None]] = {}
    links_of: dict[str, np.ndarray] = {}
    without: list[tuple[str, np.ndarray, pd.DataFrame]] = []  # (dataset, its rows without a BSN, their identifiers)
    for name, loaded in ctx.data.items():
        ds = ctx.mapping.dataset(name)
        frame = loaded.frame
        ids = frame[ds.id_column].astype(str).to_numpy()
        has = ids != ""
        ps = pseudo.pseudonymise_many(ids[has].tolist())
        links = links_of[name] = np.full(len(frame), "", dtype=object)
        links[has] = [p.hex() for p in ps]
        for p in ps:
            (exact if p in sealed else unlinked_pseudonyms).add(p)
        no_bsn = np.nonzero(~has)[0]
        if len(no_bsn) and fuzzy and ds.identifiers:
            without.append((name, no_bsn, by_kind(frame.iloc[no_bsn], ds.identifiers)))
    if without:  # one linkage over every dataset's records without a BSN: groups count across datasets
        if spine_relay is None or relay.ENCODING not in spine_relay.columns or relay.BLOCK not in spine_relay.columns:
            raise CryptoError("the spine's relay carries no encodings and block digests, but this node links fuzzily")
        spine = spine_from_relay([spine_relay.columns[relay.ENCODING][p] for p in spine_relay.order],
                                 [spine_relay.columns[relay.BLOCK][p] for p in spine_relay.order])
        records = pd.concat([f for _, _, f in without], ignore_index=True)
        party.progress("linking records without a BSN", 0, len(records))
        found = link_without_bsn(records, {k: k for k in records.columns}, spine, encoding_key)
        party.progress("linking records without a BSN", len(records), len(records))
        starts = np.cumsum([0] + [len(f) for _, _, f in without])
        linked_rows = np.full(len(records), -1, dtype=np.int64)
        linked_rows[found.record_rows] = found.spine_rows
        for (name, no_bsn, _), lo, hi in zip(without, starts[:-1], starts[1:]):
            mine = linked_rows[lo:hi]
            for i in np.nonzero(mine >= 0)[0].tolist():
                key = spine_relay.order[mine[i]]
                links_of[name][no_bsn[i]] = key.hex()
                fuzzy_linked.add(key)
            report[name] = {"without_bsn": len(no_bsn), "linked_fuzzily": int((mine >= 0).sum())}
        unlinked_groups = set(found.unlinked_keys)
        report["groups"] = {"not_linked": len(found.unlinked_keys), "ambiguous": len(found.ambiguous_keys),
                            "threshold": round(found.threshold, 4) if found.threshold is not None else None}
    for name, loaded in ctx.data.items():
        loaded.frame[LINK_COLUMN] = links_of[name]
    counts = linkage_report(exact, fuzzy_linked, unlinked_pseudonyms, unlinked_groups)
    ctx.report["fuzzy_linkage"] = report  # these stay at the node, un-noised
    ctx.report["linkage_counts"] = list(counts)
    return counts
