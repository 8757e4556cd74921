"""Fuzzy linkage of a holder's records without a BSN to the spine, on keyed encodings.

The federation's encodings use one schema, ``DUTCH_CHILD_SCHEMA``, whose fields are
identifier *kinds*; each dataset says which of its columns holds which kind. A kind a
dataset lacks is left empty (the records then score lower, but still link when the rest
agrees).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from wijkindex.linkage.encoding import DUTCH_CHILD_SCHEMA, Encoder, Encodings
from wijkindex.linkage.matching import MatchResult, dice_all_pairs, dice_pairs, match
from wijkindex.linkage.pseudonym import EncodingKey


def encode_identifiers(frame: pd.DataFrame, identifiers: Mapping[str, str], key: EncodingKey) -> Encodings:
    """Encodings of ``frame``'s rows under the federation schema; ``identifiers`` maps column -> kind."""
    by_kind = {kind: col for col, kind in identifiers.items()}
    std = pd.DataFrame(index=frame.index)
    for f in DUTCH_CHILD_SCHEMA.fields:
        col = by_kind.get(f.kind)
        if col is None:
            std[f.column] = ""
        else:
            values = frame[col]
            if pd.api.types.is_datetime64_any_dtype(values):
                values = values.dt.strftime("%Y-%m-%d")
            std[f.column] = values.where(values.notna(), "").astype(str)
    return Encoder(key, DUTCH_CHILD_SCHEMA).encode(std)


@dataclass(frozen=True)
class FuzzyLinks:
    """Which of the records were linked to which spine children (by the spine's order)."""

    record_rows: np.ndarray  # positions in the records given
    spine_rows: np.ndarray  # positions in the spine's order
    result: MatchResult | None


def link_without_bsn(records: pd.DataFrame, identifiers: Mapping[str, str], spine: Encodings,
                     key: EncodingKey) -> FuzzyLinks:
    """Link records (no BSN) to spine encodings: one-to-one, threshold from EM, then a record's
    duplicates to the child the record took."""
    if len(records) == 0 or len(spine) == 0:
        return FuzzyLinks(np.zeros(0, np.int64), np.zeros(0, np.int64), None)
    mine = encode_identifiers(records, identifiers, key)
    try:
        res = match(mine, spine)
    except ValueError:  # too few candidates to fit a model: nothing can be said to link
        return FuzzyLinks(np.zeros(0, np.int64), np.zeros(0, np.int64), None)
    rec, sp = res.pairs[:, 0], res.pairs[:, 1]
    # A holder may have two records of one child without a BSN. The one-to-one assignment
    # links one of them; the other links to the same child when it is as close to that child
    # as the threshold asks and as close to the record that took it (the same child twice).
    rest = np.setdiff1d(np.arange(len(mine)), rec)
    if len(rest) and len(rec):
        ia, ib, sc = dice_all_pairs(mine.bits[rest], spine.bits, keep=1, floor=res.threshold)
        taken_by = dict(zip(sp.tolist(), rec.tolist()))
        holder = np.array([taken_by.get(j, -1) for j in ib.tolist()], dtype=np.int64)
        ok = holder >= 0
        if ok.any():
            same = dice_pairs(mine.bits, mine.bits, rest[ia[ok]], holder[ok]) >= res.threshold
            rec = np.concatenate([rec, rest[ia[ok][same]]])
            sp = np.concatenate([sp, ib[ok][same]])
    return FuzzyLinks(rec, sp, res)


def spine_encodings(rows: Sequence[bytes]) -> Encodings:
    return Encodings.from_bytes(list(rows), DUTCH_CHILD_SCHEMA)
