"""Fuzzy linkage of a holder's records without a BSN to the spine, on keyed encodings.

The federation's encodings use one schema, ``DUTCH_CHILD_SCHEMA``, whose fields are
identifier *kinds*; each dataset says which of its columns holds which kind. A kind a
dataset lacks is left empty (the records then score lower, but still link when the rest
agrees).

A round links with a rule whose effect of one child on the released counts has a bound that
holds for every pair of neighbouring data sets (docs/linkage.md, "Sensitivity"):

- records are grouped by an exact **identity key** (normalised given name, core surname and
  date of birth), across all the node's datasets;
- every group and every spine child has a **block** (year of birth, day and month as an
  unordered pair, the initials of given name and surname as an unordered pair), a function of
  its own identifiers; a group's candidates are the spine children of its block only;
- a block with more than one group is **ambiguous**: none of its groups links (which group is
  whose cannot be told without letting one group's link depend on another's);
- each record's best candidate in the block counts when its score is at least a fixed constant
  (``FIXED_THRESHOLD``); a group links, all its records, when its records' best candidates are
  one spine child, and is ambiguous when they are several;
- ``linkage_report`` counts children and unambiguous groups, never records.

So adding one child (its spine row and its records) changes the links of at most one other group
through its spine row (the one group of its block) and one per group of its own records (the
group its block or identity key it shares): ``link_sensitivity`` and ``report_sensitivity`` are
the L1 bounds per released vector that follow.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from wijkindex.linkage.encoding import DUTCH_CHILD_SCHEMA, Encoder, Encodings
from wijkindex.linkage.matching import FIXED_THRESHOLD, MatchResult, dice_pairs
from wijkindex.linkage.normalise import fold, normalise_given_name, parse_date, split_surname
from wijkindex.linkage.pseudonym import EncodingKey

# K: how many identity groups (distinct identity keys) one child's records without a BSN may form
# at a node, across its datasets. The node cannot check it for records whose names or dates differ
# (it cannot tell whose they are); the holder declares it, and each released vector's sensitivity
# grows with it (``link_sensitivity``). A survey answered once per child, or copies of one record,
# form one group.
MAX_GROUPS_PER_CHILD = 1
NO_BLOCK = bytes(16)  # the block digest of a record whose date of birth does not parse: it links to no one


def link_sensitivity(max_groups_per_child: int = MAX_GROUPS_PER_CHILD) -> int:
    """L1 sensitivity per child of each indicator vector a fuzzy node releases: how many spine
    children's counts one child can change. Its own spine row (1), the one other group of its
    spine row's block, which it can take or make ambiguous (1), and per identity group of its
    records without a BSN one spine child (1 each: the child the group links to, or the child
    whose group it makes ambiguous by sharing its block or identity key). docs/linkage.md,
    "Sensitivity", gives the argument."""
    if max_groups_per_child < 0:
        raise ValueError("max_groups_per_child must be >= 0")
    return 2 + max_groups_per_child


def report_sensitivity(max_groups_per_child: int = MAX_GROUPS_PER_CHILD) -> int:
    """L1 sensitivity per child of the linkage report (``linkage_report``): as ``link_sensitivity``,
    except that a group of the child's that shares another group's identity key can move that
    group from "not linked" to a spine child (two bins), so each group counts twice."""
    return link_sensitivity(max_groups_per_child) + max(0, max_groups_per_child)


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


def by_kind(frame: pd.DataFrame, identifiers: Mapping[str, str]) -> pd.DataFrame:
    """``frame``'s identifiers as a table with one column per kind of the federation's schema
    ('' where the dataset has none), so that records of several datasets can be linked as one."""
    kinds = [f.kind for f in DUTCH_CHILD_SCHEMA.fields]
    return pd.DataFrame({k: v.to_numpy() for k, v in _frame_by_kind(frame, identifiers, kinds).items()})


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


def _keyed_digests(frame: pd.DataFrame, identifiers: Mapping[str, str], key: EncodingKey, purpose: str,
                   text_of: Callable[[str, str, str], str | None], none: bytes) -> np.ndarray:
    """Per row, a keyed 16-byte digest of ``text_of(given name, surname, date)`` (``none`` where it
    gives None), computed once per distinct triple."""
    cols = _frame_by_kind(frame, identifiers, ["given_name", "surname", "date"])
    mac = key.subkey(purpose)
    cache: dict[tuple[str, str, str], bytes] = {}
    out = np.empty(len(frame), dtype=object)
    for i, t in enumerate(zip(cols["given_name"].tolist(), cols["surname"].tolist(), cols["date"].tolist())):
        d = cache.get(t)
        if d is None:
            text = text_of(*t)
            d = cache[t] = none if text is None else hashlib.blake2b(text.encode("utf-8"), key=mac,
                                                                     digest_size=16).digest()
        out[i] = d
    return out


def identity_keys(frame: pd.DataFrame, identifiers: Mapping[str, str], key: EncodingKey) -> np.ndarray:
    """Each row's identity key as a keyed digest (16 bytes): the node compares and counts them, and
    no name need sit in its memory or report as text."""
    return _keyed_digests(frame, identifiers, key, "identity-key", identity_key, b"")


def block_key(given_name: object, surname: object, date_of_birth: object) -> str | None:
    """A record's block: year of birth, day and month as an unordered pair (a swapped day and
    month stay in the block), the initials of the normalised given name and the core surname as an
    unordered pair (so do swapped names). It depends on the record alone and on the fields of its
    identity key only, so every record of an identity group has the group's block. None when the
    date does not parse: such a record links to no one."""
    try:
        d = parse_date(str(date_of_birth))
    except ValueError:
        return None
    lo, hi = sorted((d.month, d.day))
    initials = "".join(sorted((normalise_given_name(given_name)[:1], split_surname(surname)[1][:1])))
    return f"{d.year}|{lo}-{hi}|{initials}"


def block_keys(frame: pd.DataFrame, identifiers: Mapping[str, str], key: EncodingKey) -> np.ndarray:
    """Each row's block as a keyed digest (16 bytes; ``NO_BLOCK`` for a date that does not parse).
    The spine relays them beside its encodings; a fuzzy node computes its records' own."""
    return _keyed_digests(frame, identifiers, key, "block-key", block_key, NO_BLOCK)


@dataclass(frozen=True)
class SpineCandidates:
    """The spine as a fuzzy node sees it: each child's encoding and block digest, in the spine's order."""

    encodings: Encodings
    blocks: np.ndarray  # (n,) object: 16-byte digests

    def __post_init__(self) -> None:
        if len(self.blocks) != len(self.encodings):
            raise ValueError(f"{len(self.blocks)} block digests for {len(self.encodings)} spine encodings")

    def __len__(self) -> int:
        return len(self.encodings)


def spine_candidates(frame: pd.DataFrame, identifiers: Mapping[str, str], key: EncodingKey) -> SpineCandidates:
    """What the spine relays to a fuzzy node for ``frame``'s children, in its row order."""
    return SpineCandidates(encode_identifiers(frame, identifiers, key), block_keys(frame, identifiers, key))


@dataclass(frozen=True)
class FuzzyLinks:
    """Which of the records were linked to which spine children (by the spine's order)."""

    record_rows: np.ndarray  # positions in the records given, ascending
    spine_rows: np.ndarray  # positions in the spine's order
    result: MatchResult | None  # the linked records' pairs and scores, and the threshold used
    keys: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))  # identity key (digest) per record
    unlinked_keys: frozenset[bytes] = frozenset()  # unambiguous identity groups none of whose records linked
    ambiguous_keys: frozenset[bytes] = frozenset()  # groups sharing a block, or whose records point at several children

    @property
    def threshold(self) -> float | None:
        return self.result.threshold if self.result is not None else None


def link_without_bsn(records: pd.DataFrame, identifiers: Mapping[str, str], spine: SpineCandidates,
                     key: EncodingKey, *, threshold: float = FIXED_THRESHOLD) -> FuzzyLinks:
    """Link records without a BSN (all of a node's, from every dataset: the rule counts groups
    across them) to the spine's candidates, by the round's rule (the module's docstring).

    Within its block, every record's best spine candidate (highest Dice, lowest spine position
    among equals) counts when its score is at least ``threshold``, a constant. A group links, all
    its records, when it is the only group of its block and its records' counted candidates are
    one spine child; it is ambiguous when its block holds another group or its records point at
    several children, and unlinked when no record counts. Nothing is fitted and nothing is
    assigned between groups: a group's link depends on its own records, the spine children of its
    block and whether another group shares the block.
    """
    n = len(records)
    empty = np.zeros(0, np.int64)
    keys = identity_keys(records, identifiers, key) if n else np.zeros(0, dtype=object)
    if n == 0:
        return FuzzyLinks(empty, empty, None, keys)
    blocks = block_keys(records, identifiers, key)
    group, uniques = pd.factorize(pd.Series(keys, dtype=object))
    group_block = np.empty(len(uniques), dtype=object)
    group_block[group] = blocks  # one block per group: the block depends on the identity key's fields
    per_block = pd.Series(group_block).map(pd.Series(group_block).value_counts())
    crowded = (per_block.to_numpy() > 1) & (group_block != NO_BLOCK)
    mine = encode_identifiers(records, identifiers, key)
    # candidate pairs: each usable record of an uncrowded group with the spine children of its block
    usable = np.nonzero(~crowded[group] & (blocks != NO_BLOCK) & ~mine.empty)[0]
    spine_ok = np.nonzero(~spine.encodings.empty)[0]
    pairs = pd.DataFrame({"b": blocks[usable], "i": usable}).merge(
        pd.DataFrame({"b": spine.blocks[spine_ok], "j": spine_ok}), on="b")
    ia, ib = pairs["i"].to_numpy(np.int64), pairs["j"].to_numpy(np.int64)
    sc = dice_pairs(mine.bits, spine.encodings.bits, ia, ib) if len(ia) else np.zeros(0)
    order = np.lexsort((ib, -sc, ia))  # by record, then highest score, then lowest spine position
    ia, ib, sc = ia[order], ib[order], sc[order]
    first = np.r_[True, ia[1:] != ia[:-1]] if len(ia) else np.zeros(0, bool)
    best_rec, best_row, best_sc = ia[first], ib[first], sc[first]
    ok = best_sc >= threshold
    best_rec, best_row, best_sc = best_rec[ok], best_row[ok], best_sc[ok]
    # per group: the distinct children its counted records point at
    g = group[best_rec]
    targets = pd.DataFrame({"g": g, "row": best_row}).drop_duplicates()
    n_targets = np.bincount(targets["g"].to_numpy(), minlength=len(uniques))
    target = np.full(len(uniques), -1, dtype=np.int64)
    single = targets[n_targets[targets["g"].to_numpy()] == 1]
    target[single["g"].to_numpy()] = single["row"].to_numpy()
    score = np.zeros(len(uniques))
    np.maximum.at(score, g, best_sc)
    ambiguous = crowded | (n_targets > 1)
    rec = np.nonzero(target[group] >= 0)[0].astype(np.int64)
    sp = target[group[rec]]
    linked_pairs = np.stack([rec, sp], axis=1) if len(rec) else np.zeros((0, 2), np.int64)
    result = MatchResult(linked_pairs, score[group[rec]], float(threshold), None, len(pairs), len(best_rec))
    unlinked = frozenset(uniques[(target < 0) & ~ambiguous].tolist())
    return FuzzyLinks(rec, sp, result, keys, unlinked, frozenset(uniques[ambiguous].tolist()))


def linkage_report(exact_children: Iterable[bytes], fuzzy_children: Iterable[bytes],
                   unlinked_bsn_children: Iterable[bytes], unlinked_groups: Iterable[object]) -> tuple[int, int, int]:
    """The three bins of a fuzzy node's linkage report, counting children, not records:

    - spine children linked by BSN (``exact_children``: their spine pseudonyms);
    - spine children linked only fuzzily (``fuzzy_children`` that are not also exact);
    - children not linked: distinct pseudonyms of BSNs that are not in the spine
      (``unlinked_bsn_children``) plus distinct identity groups without a BSN none of whose records
      linked (``unlinked_groups``: ``FuzzyLinks.unlinked_keys``). Ambiguous groups are in no bin
      (the node's own report counts them).

    A spine child is in at most one of the first two bins; a BSN is in the first bin or the third;
    an identity group adds at most one to the second or the third. So adding or removing one child
    changes the three counts by at most ``report_sensitivity()`` in L1 (docs/linkage.md, "Sensitivity").
    """
    exact = set(exact_children)
    fuzzy = set(fuzzy_children) - exact
    unlinked = set(unlinked_bsn_children) - exact
    return len(exact), len(fuzzy), len(unlinked) + len(set(unlinked_groups))


def spine_from_relay(encodings: Sequence[bytes], blocks: Sequence[bytes]) -> SpineCandidates:
    """The spine's candidates from its relay's encoding and block columns (in the relay's order)."""
    bad = next((i for i, b in enumerate(blocks) if len(b) != len(NO_BLOCK)), None)
    if bad is not None:
        raise ValueError(f"block digest of spine row {bad} has {len(blocks[bad])} bytes, expected {len(NO_BLOCK)}")
    return SpineCandidates(Encodings.from_bytes(list(encodings), DUTCH_CHILD_SCHEMA),
                           np.array(list(blocks), dtype=object))
