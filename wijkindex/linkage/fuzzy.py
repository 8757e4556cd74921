"""Fuzzy linkage of a holder's records without a BSN to the spine, on keyed encodings.

The federation's encodings use one schema, ``DUTCH_CHILD_SCHEMA``, whose fields are
identifier *kinds*; each dataset says which of its columns holds which kind. A kind a
dataset lacks is left empty (the records then score lower, but still link when the rest
agrees).

A round links with a rule whose effect of one child on the released counts has a bound that
can be stated (docs/linkage.md, "Sensitivity"):

- each record's best spine candidate is taken when its score is at least a fixed constant
  (``FIXED_THRESHOLD``), so a record's candidate depends on that record and the spine only;
- records are grouped by an exact **identity key** (normalised given name, core surname and
  date of birth); a group links as one, to the best candidate of its best record, so all of
  one child's records that carry the same name and date reach at most one spine child;
- ``linkage_report`` counts children and groups, never records.

``link_sensitivity`` is the L1 bound per released vector that follows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from wijkindex.linkage.encoding import DUTCH_CHILD_SCHEMA, Encoder, Encodings
from wijkindex.linkage.matching import FIXED_THRESHOLD, MatchResult, best_candidates
from wijkindex.linkage.normalise import fold, normalise_given_name, parse_date, split_surname
from wijkindex.linkage.pseudonym import EncodingKey

# K: how many identity groups (distinct identity keys) one child's records without a BSN may form
# at a node, across its datasets. The node cannot check it for records whose names or dates differ
# (it cannot tell whose they are); the holder declares it, and each released vector's sensitivity
# grows with it (``link_sensitivity``). A survey answered once per child, or copies of one record,
# form one group.
MAX_GROUPS_PER_CHILD = 1


def link_sensitivity(max_groups_per_child: int = MAX_GROUPS_PER_CHILD) -> int:
    """L1 sensitivity per child of each count vector a fuzzy node releases (an indicator's cells,
    the linkage report): the child's own spine row or BSN pseudonym, plus one spine child or one
    unlinked group per identity group of its records without a BSN. docs/linkage.md, "Sensitivity",
    says what it assumes."""
    if max_groups_per_child < 0:
        raise ValueError("max_groups_per_child must be >= 0")
    return 1 + max_groups_per_child


def _frame_by_kind(frame: pd.DataFrame, identifiers: Mapping[str, str], kinds: Iterable[str]) -> dict[str, pd.Series]:
    """The identifier columns of ``frame`` by kind, as text ('' where missing or absent)."""
    by_kind = {kind: col for col, kind in identifiers.items()}
    out = {}
    for kind in kinds:
        col = by_kind.get(kind)
        if col is None:
            out[kind] = pd.Series([""] * len(frame), index=frame.index, dtype=object)
            continue
        values = frame[col]
        if pd.api.types.is_datetime64_any_dtype(values):
            values = values.dt.strftime("%Y-%m-%d")
        out[kind] = values.where(values.notna(), "").astype(str)
    return out


def encode_identifiers(frame: pd.DataFrame, identifiers: Mapping[str, str], key: EncodingKey) -> Encodings:
    """Encodings of ``frame``'s rows under the federation schema; ``identifiers`` maps column -> kind."""
    cols = _frame_by_kind(frame, identifiers, [f.kind for f in DUTCH_CHILD_SCHEMA.fields])
    std = pd.DataFrame({f.column: cols[f.kind] for f in DUTCH_CHILD_SCHEMA.fields}, index=frame.index)
    return Encoder(key, DUTCH_CHILD_SCHEMA).encode(std)


def _key_date(raw: str) -> str:
    try:
        return parse_date(raw).isoformat()
    except ValueError:
        return fold(raw)


def identity_key(given_name: object, surname: object, date_of_birth: object) -> str:
    """A record's identity key: normalised given name, core surname (no tussenvoegsel: registers
    write it differently) and date of birth (ISO). It depends on the record alone. 'Zoë',
    'Berg, van der', '07-03-2012' and 'zoe', 'V.d. Berg', '2012-03-07' have one key."""
    return "|".join((normalise_given_name(given_name), split_surname(surname)[1], _key_date(str(date_of_birth))))


def identity_keys(frame: pd.DataFrame, identifiers: Mapping[str, str], key: EncodingKey) -> np.ndarray:
    """Each row's identity key as a keyed digest (16 bytes): the node compares and counts them, and
    no name need sit in its memory or report as text."""
    cols = _frame_by_kind(frame, identifiers, ["given_name", "surname", "date"])
    mac = key.subkey("identity-key")
    cache: dict[tuple[str, str, str], bytes] = {}
    out = np.empty(len(frame), dtype=object)
    for i, t in enumerate(zip(cols["given_name"].tolist(), cols["surname"].tolist(), cols["date"].tolist())):
        d = cache.get(t)
        if d is None:
            d = cache[t] = hashlib.blake2b(identity_key(*t).encode("utf-8"), key=mac, digest_size=16).digest()
        out[i] = d
    return out


@dataclass(frozen=True)
class FuzzyLinks:
    """Which of the records were linked to which spine children (by the spine's order)."""

    record_rows: np.ndarray  # positions in the records given, ascending
    spine_rows: np.ndarray  # positions in the spine's order
    result: MatchResult | None  # the linked records' pairs and scores, and the threshold used
    keys: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))  # identity key (digest) per record
    unlinked_keys: frozenset[bytes] = frozenset()  # identity groups none of whose records linked

    @property
    def threshold(self) -> float | None:
        return self.result.threshold if self.result is not None else None


def link_without_bsn(records: pd.DataFrame, identifiers: Mapping[str, str], spine: Encodings, key: EncodingKey, *,
                     threshold: float = FIXED_THRESHOLD, block: bool = False) -> FuzzyLinks:
    """Link records without a BSN to the spine's encodings, by the round's rule.

    Every record's best spine candidate (highest Dice, lowest spine position among equals) counts
    when its score is at least ``threshold``, a constant; records with the same identity key
    (``identity_key``) form a group, and a group links, all its records, to the candidate of its
    best-scoring record (lowest spine position among equals). A group none of whose records
    reaches the threshold is unlinked. So a group's link depends on its own records and the spine
    only: no fitted threshold, no one-to-one assignment, no record moving another's link; and
    each group reaches at most one spine child. ``block`` (LSH) is for very large problems and
    must come from configuration, not from the number of records.
    """
    n = len(records)
    empty = np.zeros(0, np.int64)
    keys = identity_keys(records, identifiers, key) if n else np.zeros(0, dtype=object)
    if n == 0 or len(spine) == 0:
        return FuzzyLinks(empty, empty, None, keys, frozenset(keys.tolist()))
    mine = encode_identifiers(records, identifiers, key)
    best = best_candidates(mine, spine, block=block)
    group, uniques = pd.factorize(pd.Series(keys, dtype=object))
    ok = np.nonzero((best.rows >= 0) & (best.scores >= threshold))[0]
    # per group, its best record: highest score, then lowest spine position
    order = ok[np.lexsort((best.rows[ok], -best.scores[ok], group[ok]))]
    first = order[np.r_[True, group[order][1:] != group[order][:-1]]] if len(order) else order
    target = np.full(len(uniques), -1, dtype=np.int64)
    score = np.zeros(len(uniques))
    target[group[first]] = best.rows[first]
    score[group[first]] = best.scores[first]
    rec = np.nonzero(target[group] >= 0)[0].astype(np.int64)
    sp = target[group[rec]]
    pairs = np.stack([rec, sp], axis=1) if len(rec) else np.zeros((0, 2), np.int64)
    result = MatchResult(pairs, score[group[rec]], float(threshold), None, best.n_comparisons,
                         int((best.rows >= 0).sum()))
    unlinked = frozenset(uniques[target < 0].tolist())
    return FuzzyLinks(rec, sp, result, keys, unlinked)


def linkage_report(exact_children: Iterable[bytes], fuzzy_children: Iterable[bytes],
                   unlinked_bsn_children: Iterable[bytes], unlinked_groups: Iterable[object]) -> tuple[int, int, int]:
    """The three bins of a fuzzy node's linkage report, counting children, not records:

    - spine children linked by BSN (``exact_children``: their spine pseudonyms);
    - spine children linked only fuzzily (``fuzzy_children`` that are not also exact);
    - children not linked: distinct pseudonyms of BSNs that are not in the spine
      (``unlinked_bsn_children``) plus distinct identity groups without a BSN none of whose records
      linked (``unlinked_groups``: the union of ``FuzzyLinks.unlinked_keys`` over the node's
      datasets; a key in two datasets counts once).

    A spine child is in at most one of the first two bins; a BSN is in the first bin or the third;
    an identity group adds at most one to the second or the third. So adding or removing one child
    changes the three counts by at most ``link_sensitivity()`` in L1 (docs/linkage.md, "Sensitivity").
    """
    exact = set(exact_children)
    fuzzy = set(fuzzy_children) - exact
    unlinked = set(unlinked_bsn_children) - exact
    return len(exact), len(fuzzy), len(unlinked) + len(set(unlinked_groups))


def spine_encodings(rows: Sequence[bytes]) -> Encodings:
    return Encodings.from_bytes(list(rows), DUTCH_CHILD_SCHEMA)
