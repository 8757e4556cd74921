"""Keyed, hardened, balanced record-level similarity encodings (Bloom-filter CLKs).

A record's identifiers (given name, surname, date of birth, sex, postcode, ...) are cut into
tokens (character bigrams of names, date parts, postcode parts). Every token sets ``k`` bits
of one record-level filter of ``bits`` bits, at positions a PRF (keyed BLAKE2b) under the
round's encoding key chooses, so nobody without the key can tell which bits a token sets (no
dictionary attack). All fields go into one filter, so no field's frequencies can be read
off on their own. Then two hardening steps:

1. **Rule 90**: every bit becomes the XOR of its two neighbours, so no output bit belongs to
   one token and the bits of a frequent bigram no longer light up together (the
   pattern-mining attack's foothold; tests/test_linkage_attack.py);
2. **balancing**: the complement is appended and the ``2 * bits`` places are shuffled by a
   keyed permutation, so every encoding has exactly ``bits`` ones (no weight pattern), and
   nobody without the key knows which places are neighbours or complements.

Two encodings are compared by their Dice coefficient, which on balanced encodings is one
minus the normalised Hamming distance. Why these choices, and what they cost, is in
docs/linkage.md. Encoding is vectorised: a token's positions are computed once per
distinct token, a field's filter once per distinct value, a record's plain filter is the
OR of its fields' filters, and the hardening works on the whole bit matrix at once.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date as _date_check
from typing import Callable, Literal, Sequence

import numpy as np
import pandas as pd

from wijkindex.linkage.normalise import fold, normalise_given_name, parse_date, split_surname
from wijkindex.linkage.pseudonym import EncodingKey

FieldKind = Literal["given_name", "surname", "date", "sex", "postcode", "text", "exact"]
FIELD_KINDS: tuple[str, ...] = ("given_name", "surname", "date", "sex", "postcode", "text", "exact")


@dataclass(frozen=True)
class FieldSpec:
    """One identifier column: its kind says how it is normalised and cut into tokens;
    ``k`` is how many bits each token sets (its weight in the similarity)."""

    column: str
    kind: FieldKind
    k: int = 10
    group: str = ""  # fields of one group share bit positions, so a value typed in the
    # other field of the group (given name and surname swapped) still matches

    @property
    def space(self) -> str:
        return self.group or self.column

    def __post_init__(self) -> None:
        if self.kind not in FIELD_KINDS:
            raise ValueError(f"identifier field {self.column!r}: unknown kind {self.kind!r} "
                             f"(one of {', '.join(FIELD_KINDS)})")
        if not 1 <= self.k <= 64:
            raise ValueError(f"identifier field {self.column!r}: k must be 1..64, not {self.k}")


@dataclass(frozen=True)
class EncodingSchema:
    fields: tuple[FieldSpec, ...]
    bits: int = 1024  # of the plain filter; the balanced encoding has twice as many

    def __post_init__(self) -> None:
        if not self.fields:
            raise ValueError("an encoding schema needs at least one identifier field")
        if self.bits % 64 or not 256 <= self.bits <= 8192:
            raise ValueError(f"encoding bits must be a multiple of 64 in 256..8192, not {self.bits}")
        cols = [f.column for f in self.fields]
        if len(set(cols)) != len(cols):
            raise ValueError("an identifier column appears twice in the encoding schema")

    @property
    def columns(self) -> list[str]:
        return [f.column for f in self.fields]

    @property
    def words(self) -> int:
        """uint64 words of one balanced encoding."""
        return 2 * self.bits // 64

    def fingerprint(self) -> str:
        """Both sides of a linkage must use the same schema; this names it compactly."""
        return ";".join(f"{f.column}:{f.kind}:{f.k}:{f.group}" for f in self.fields) + f";bits={self.bits}"


# The schema for Dutch children's records: the fields a BRP extract, a GGD file and a school
# export share. The weights (bits per token) were chosen on the synthetic federation's survey
# records (docs/linkage.md): siblings share surname and postcode, so the given name and the
# date of birth must tell them apart; the postcode weighs least (families move).
DUTCH_CHILD_SCHEMA = EncodingSchema((
    FieldSpec("voornaam", "given_name", 12, group="naam"),
    FieldSpec("achternaam", "surname", 12, group="naam"),
    FieldSpec("geboortedatum", "date", 16),
    FieldSpec("geslacht", "sex", 10),
    FieldSpec("postcode", "postcode", 8),
))

# The FEBRL benchmark's fields (synthetic Australian records): names and the two address
# lines are each one group, because FEBRL's corruptions swap them.
FEBRL_SCHEMA = EncodingSchema((
    FieldSpec("given_name", "given_name", 12, group="name"),
    FieldSpec("surname", "surname", 12, group="name"),
    FieldSpec("street_number", "text", 4),
    FieldSpec("address_1", "text", 4, group="address"),
    FieldSpec("address_2", "text", 4, group="address"),
    FieldSpec("suburb", "text", 5),
    FieldSpec("postcode", "postcode", 6),
    FieldSpec("state", "exact", 4),
    FieldSpec("date_of_birth", "date", 20),
))
SCHEMAS = {"dutch-child": DUTCH_CHILD_SCHEMA, "febrl": FEBRL_SCHEMA}


def schema_from_mapping(raw: dict, *, source: str = "schema") -> EncodingSchema:
    """An encoding schema from TOML: ``bits`` and ``[[field]]`` tables (column, kind, k, group)."""
    fields = raw.get("field")
    if not isinstance(fields, list) or not fields:
        raise ValueError(f"{source}: needs at least one [[field]] table with column and kind")
    out = []
    for i, f in enumerate(fields):
        unknown = set(f) - {"column", "kind", "k", "group"}
        if unknown or "column" not in f or "kind" not in f:
            raise ValueError(f"{source}: field[{i}]: needs column and kind (and optionally k, group); "
                             f"unknown keys {sorted(unknown)}" if unknown else
                             f"{source}: field[{i}]: needs column and kind")
        try:
            out.append(FieldSpec(str(f["column"]), f["kind"], int(f.get("k", 10)), str(f.get("group", ""))))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: field[{i}]: {exc}") from None
    try:
        return EncodingSchema(tuple(out), int(raw.get("bits", 1024)))
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None


# --- tokens --------------------------------------------------------------------------------

def bigrams(s: str) -> list[str]:
    """Character bigrams of ``s`` padded with '_' at both ends; 'emma' -> _e em mm ma a_."""
    if not s:
        return []
    p = f"_{s}_"
    return [p[i:i + 2] for i in range(len(p) - 1)]


# A field value becomes (a string whose padded bigrams are tokens, other whole tokens). The
# bigrams of all of a field's values are cut at once with numpy; the rest is per value.
Split = tuple[str, list[str]]


def _given_name(v: str) -> Split:
    return normalise_given_name(v).replace(" ", "_"), []


def _surname(v: str) -> Split:
    prefix, core = split_surname(v)
    return core, ([f"tv:{prefix.replace(' ', '')}"] if prefix else [])


def _date(v: str) -> Split:
    """Year, month and day, the unordered (day, month) pair and two week buckets: a date with
    day and month swapped keeps the year and the pair; a typo in one part keeps the other
    two; a date a day off keeps its week."""
    try:
        if len(v) == 8 and v.isdigit():  # the common YYYYMMDD export, without the regexes
            parsed = _date_check(int(v[:4]), int(v[4:6]), int(v[6:]))
        else:
            parsed = parse_date(v)
    except ValueError:
        return "", []
    y, m, d, o = parsed.year, parsed.month, parsed.day, parsed.toordinal()
    lo, hi = (d, m) if d < m else (m, d)
    # two week buckets, offset by half a week: a date a day off keeps at least one
    return "", [f"y:{y}", f"m:{m}", f"d:{d}", f"dm:{lo}-{hi}", f"w:{o // 7}", f"w':{(o + 3) // 7}"]


_SEX = {"m": "m", "man": "m", "jongen": "m", "male": "m", "v": "v", "vrouw": "v", "meisje": "v",
        "f": "v", "female": "v", "w": "v"}


def _sex(v: str) -> Split:
    s = _SEX.get(v.strip().lower())
    return "", ([f"s:{s}"] if s else [])


def _postcode(v: str) -> Split:
    s = "".join(v.split()).lower()
    digits = "".join(ch for ch in s if ch.isdigit())
    return s, ([f"pc4:{digits}"] if digits else [])


def _text(v: str) -> Split:
    return fold(v).replace(" ", "_"), []


def _exact(v: str) -> Split:
    s = v.strip().lower()
    return "", ([f"x:{s}"] if s else [])


SPLITTERS: dict[str, Callable[[str], Split]] = {
    "given_name": _given_name, "surname": _surname, "date": _date, "sex": _sex,
    "postcode": _postcode, "text": _text, "exact": _exact,
}


def tokens(spec: FieldSpec, value: object) -> list[str]:
    """The tokens one field value contributes (an empty or unreadable value contributes none)."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value) == "":
        return []
    text, extra = SPLITTERS[spec.kind](str(value))
    return bigrams(text) + extra


def _bigram_codes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(value index, 64-bit code of the two characters) of every padded bigram of ``texts``."""
    padded = np.array([f"_{t}_" if t else "" for t in texts], dtype=str)
    width = padded.dtype.itemsize // 4
    if width < 2 or not len(padded):
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    chars = padded.view(np.uint32).reshape(len(padded), width).astype(np.uint64)
    codes = (chars[:, :-1] << np.uint64(32)) | chars[:, 1:]
    valid = chars[:, 1:] != 0
    rows = np.nonzero(valid)[0]
    return rows, codes[valid]


_SHIFTS = np.arange(8, dtype=np.uint8)
_WEIGHTS = (1 << np.arange(8)).astype(np.uint8)


# --- the encoder ---------------------------------------------------------------------------

@dataclass
class Encodings:
    """Balanced encodings of a table's records: ``words`` uint64 per record, in row order."""

    bits: np.ndarray  # (n, words) uint64
    schema_fingerprint: str
    empty: np.ndarray  # (n,) bool: rows with no token at all

    def __len__(self) -> int:
        return int(self.bits.shape[0])

    def to_bytes(self) -> list[bytes]:
        return [row.tobytes() for row in self.bits]

    @classmethod
    def from_bytes(cls, rows: Sequence[bytes], schema: EncodingSchema) -> "Encodings":
        width = schema.words * 8
        bad = [i for i, r in enumerate(rows) if len(r) != width]
        if bad:
            raise ValueError(f"encoding of row {bad[0]} has {len(rows[bad[0]])} bytes, expected {width}")
        buf = np.frombuffer(b"".join(rows), dtype=np.uint64).reshape(len(rows), schema.words) if rows else \
            np.zeros((0, schema.words), dtype=np.uint64)
        return cls(buf.copy(), schema.fingerprint(), np.zeros(len(rows), dtype=bool))


class Encoder:
    """Encodes tables under one schema and one round's encoding key."""

    def __init__(self, key: EncodingKey, schema: EncodingSchema) -> None:
        self.schema = schema
        self._pos_key = key.subkey("positions")
        perm_key = key.subkey("permutation")
        n2 = 2 * schema.bits
        # A keyed permutation of the 2*bits positions: sort indices by a PRF of the index.
        prf = np.array([int.from_bytes(hmac.digest(perm_key, i.to_bytes(4, "big"), "sha256")[:8], "big")
                        for i in range(n2)], dtype=np.uint64)
        self._perm = np.argsort(prf, kind="stable").astype(np.int64)  # plain position j -> balanced _perm[j]
        self._inverse_perm = np.argsort(self._perm)  # balanced place -> plain (or complement) position
        self._cache: dict[tuple[str, int], tuple[dict[str, int], np.ndarray]] = {}
        self._splits: dict[str, dict[str, Split]] = {}

    def _positions(self, space: str, tokens: Sequence[str], k: int) -> np.ndarray:
        """(len(tokens), k) positions in [0, bits): double hashing (h1 + i*h2 mod 2^64, mod bits)
        of keyed BLAKE2b (a PRF, three times faster here than HMAC-SHA256) of (field or group, token)."""
        key, pre, blake = self._pos_key, f"{space}\x00", hashlib.blake2b
        digests = b"".join(blake((pre + t).encode("utf-8"), key=key, digest_size=16).digest() for t in tokens)
        h = np.frombuffer(digests, dtype="<u8").reshape(len(tokens), 2).astype(np.uint64)
        steps = np.arange(k, dtype=np.uint64)
        with np.errstate(over="ignore"):
            pos = h[:, :1] + steps[None, :] * (h[:, 1:] | np.uint64(1))
        return (pos % np.uint64(self.schema.bits)).astype(np.int64)

    def _token_positions(self, spec: FieldSpec, toks: Sequence[str]) -> np.ndarray:
        """(len(toks), k) positions of distinct tokens, computed once per (field space, token)."""
        index, table = self._cache.setdefault((spec.space, spec.k), ({}, np.zeros((0, spec.k), np.int64)))
        new = [t for t in toks if t not in index]
        if new:
            for t in new:
                index[t] = len(index)
            table = np.concatenate([table, self._positions(spec.space, new, spec.k)])
            self._cache[(spec.space, spec.k)] = (index, table)
        return table[np.fromiter((index[t] for t in toks), dtype=np.int64, count=len(toks))]

    def _value_bits(self, spec: FieldSpec, uniques: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per distinct value of a field: (value index, plain position) of every bit it sets,
        and whether the value had any token."""
        split = SPLITTERS[spec.kind]
        seen = self._splits.setdefault(spec.kind, {})  # normalising does not depend on the key
        if len(seen) > 1_000_000:
            seen.clear()
        for v in [v for v in uniques if v not in seen]:
            seen[v] = split(v) if v else ("", [])
        got = [seen[v] for v in uniques]
        texts = [g[0] for g in got]
        counts = [len(g[1]) for g in got]
        distinct: dict[str, int] = {}
        extra_ids = [distinct.setdefault(t, len(distinct)) for g in got for t in g[1]]
        extra_rows = np.repeat(np.arange(len(uniques), dtype=np.int64), counts)
        b_rows, b_codes = _bigram_codes(texts)
        inverse, uniq_codes = pd.factorize(b_codes)  # hashing, not sorting
        code_toks = [chr(c >> 32) + chr(c & 0xFFFFFFFF) for c in uniq_codes.tolist()]
        b_pos = self._token_positions(spec, code_toks)[inverse]
        x_pos = self._token_positions(spec, list(distinct))[np.asarray(extra_ids, dtype=np.int64)]
        rows = np.concatenate([np.repeat(b_rows, spec.k), np.repeat(extra_rows, spec.k)])
        pos = np.concatenate([b_pos.ravel(), x_pos.ravel()])
        has = np.zeros(len(uniques), dtype=bool)
        has[rows] = True
        return rows, pos, has

    def _plain(self, n: int, rows: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """(n, bits/64) uint64 plain filters with the given (row, position) bits set."""
        m = self.schema.bits
        flat = np.zeros(n * m, dtype=bool)
        flat[rows * m + positions] = True
        return np.packbits(flat, bitorder="little").view(np.uint64).reshape(n, m // 64)

    def plain_filters(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The unhardened record-level CLKs (packed) and which rows had no token at all. Built
        once per distinct value of a field and gathered to the records. Never leaves the node:
        only ``encode``'s hardened form does (the tests attack both)."""
        missing = [c for c in self.schema.columns if c not in frame.columns]
        if missing:
            raise ValueError(f"identifier column(s) {', '.join(missing)} missing; found "
                             f"{', '.join(map(str, frame.columns[:20]))}")
        n = len(frame)
        plain = np.zeros((n, self.schema.bits // 64), dtype=np.uint64)
        any_tokens = np.zeros(n, dtype=bool)
        for spec in self.schema.fields:
            codes, uniques = pd.factorize(frame[spec.column].to_numpy(dtype=object, na_value=""), sort=False)
            values = [v if isinstance(v, str) else str(v) for v in uniques.tolist()]
            rows, pos, has = self._value_bits(spec, values)
            plain |= self._plain(len(values), rows, pos)[codes]
            any_tokens |= has[codes]
        return plain, ~any_tokens

    def harden(self, plain: np.ndarray) -> np.ndarray:
        """Rule 90, then balance: each bit becomes the XOR of its two neighbours (cyclic), so no
        output bit belongs to one token; the complement is appended and all 2*bits places are
        shuffled by the keyed permutation, so every encoding has exactly ``bits`` ones."""
        one, top = np.uint64(1), np.uint64(63)
        nxt = (plain >> one) | (np.roll(plain, -1, axis=1) << top)  # bit i+1 at i
        prv = (plain << one) | (np.roll(plain, 1, axis=1) >> top)  # bit i-1 at i
        mixed = nxt ^ prv
        # balance and permute on the transposed bit matrix (row j: bit j of every record), so the
        # keyed permutation is a row gather; bits are (un)packed with shifts and a weighted sum
        n, m = len(mixed), self.schema.bits
        by_byte = np.ascontiguousarray(mixed.view(np.uint8).T)  # (m/8, n)
        bits_t = ((by_byte[:, None, :] >> _SHIFTS[None, :, None]) & 1).reshape(m, n)
        stacked = np.concatenate([bits_t, 1 - bits_t], axis=0)[self._inverse_perm]  # (2m, n) of 0/1
        packed = np.einsum("jin,i->jn", stacked.reshape(2 * m // 8, 8, n), _WEIGHTS)
        return np.ascontiguousarray(packed.T).view(np.uint64)

    def encode(self, frame: pd.DataFrame) -> Encodings:
        """Hardened (Rule 90), balanced, keyed encodings of every row of ``frame``."""
        plain, empty = self.plain_filters(frame)
        return Encodings(self.harden(plain), self.schema.fingerprint(), empty)
