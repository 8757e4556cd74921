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
docs/linkage.md. Encoding is vectorised: the common values are cut into tokens with numpy
(``value_tokens``), a token's positions are computed once per distinct token, a field's
filter once per distinct value, a record's plain filter is the OR of its fields' filters,
and the hardening works on the whole bit matrix at once.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date as _date_check
from typing import Any, Callable, Literal, Sequence

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


# A field value becomes (a string whose padded bigrams are tokens, other whole tokens).
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
    """The tokens one field value contributes (an empty or unreadable value contributes none).
    This is the definition; ``value_tokens`` computes the same for many values at once."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value) == "":
        return []
    text, extra = SPLITTERS[spec.kind](str(value))
    return bigrams(text) + extra


# --- many values at once ---------------------------------------------------------------------
# Encoding spends its time cutting values into tokens, so the common values (ASCII names and
# addresses, one-word surnames, postcodes, YYYYMMDD / YYYY-MM-DD / DD-MM-YYYY dates) are cut
# with numpy on a matrix of their characters; the rest (diacritics, tussenvoegsels, other date
# forms, sex and exact fields) go through ``tokens``. tests/test_fuzzy_linkage.py checks that
# both ways give the same tokens.

# Tokens of many values: (value index of every token occurrence, its index into the distinct
# tokens, the distinct tokens).
TokenTable = tuple[np.ndarray, np.ndarray, list[str]]
_EMPTY: TokenTable = (np.zeros(0, np.int64), np.zeros(0, np.int64), [])

_SEP = 0x110000  # a word break in a character matrix; above every code point
_SLOW = 0x110001  # a character the fast path leaves to ``tokens``
_FAST_WIDTH = 64  # longer values go through ``tokens`` (the matrix is as wide as its widest value)


def _ascii_matrix(values: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(indices, chars): the values that are ASCII, at most _FAST_WIDTH long and free of NUL
    (numpy drops a trailing NUL), as a zero-padded (len(indices), width) uint32 matrix."""
    lengths = np.fromiter(map(len, values), np.int64, len(values))
    rows = np.flatnonzero(lengths <= _FAST_WIDTH)
    subset = values if len(rows) == len(values) else [values[i] for i in rows.tolist()]
    arr = np.array(subset, dtype=str)
    chars = arr.view(np.uint32).reshape(len(subset), arr.dtype.itemsize // 4)
    ok = (chars < 128).all(axis=1) & (np.count_nonzero(chars, axis=1) == lengths[rows])
    return rows[ok], chars[ok]


def _char_table(mapping: Callable[[str], str], nothing: int = _SEP) -> np.ndarray:
    """ASCII code -> code in a character matrix, from what ``mapping`` makes of the character
    alone: its one character, or ``nothing`` (a word break, or 0: dropped). 0 stays 0."""
    table = np.array([ord(m) if (m := mapping(chr(i))) else nothing for i in range(128)], dtype=np.uint32)
    table[0] = 0
    return table


# the same character classes as fold, normalise_given_name, split_surname and _postcode
_TEXT_CHARS = _char_table(fold)
_GIVEN_NAME_CHARS = np.where(np.isin(_TEXT_CHARS, [ord("-"), ord(".")]), _SEP, _TEXT_CHARS).astype(np.uint32)
_GIVEN_NAME_CHARS[_TEXT_CHARS == ord("'")] = 0  # dropped: d'Arcy -> darcy (fold makes ` an ' too)
_SURNAME_CHARS = _TEXT_CHARS.copy()
_SURNAME_CHARS[np.isin(_TEXT_CHARS, [ord("'"), ord(".")])] = _SLOW  # may split off a tussenvoegsel
_SURNAME_CHARS[ord(",")] = _SLOW  # "Berg, van der"
_POSTCODE_CHARS = _char_table(lambda c: "".join(c.split()).lower(), nothing=0)


def _bigram_table(mapped: np.ndarray) -> TokenTable:
    """Padded bigrams of every row of a character matrix (0: no character; a run of _SEP: one
    '_'), as ``bigrams`` cuts the row's text with its word breaks as '_'. A row without
    characters has none."""
    n, w = mapped.shape
    framed = np.full((n, w + 2), _SEP, dtype=np.uint32)
    framed[:, 1:-1] = mapped
    flat = framed.ravel()
    at = np.flatnonzero(flat)
    chars, rows = flat[at], at // (w + 2)
    repeat = np.zeros(len(chars), dtype=bool)
    repeat[1:] = (chars[1:] == _SEP) & (chars[:-1] == _SEP) & (rows[1:] == rows[:-1])
    chars, rows = chars[~repeat].astype(np.uint64), rows[~repeat]
    chars[chars == _SEP] = ord("_")
    pair = rows[1:] == rows[:-1]
    # a bigram's code holds its two UCS-4 characters in memory order, so its text is a view
    ids, codes = pd.factorize(((chars[1:] << np.uint64(32)) | chars[:-1])[pair])
    return rows[:-1][pair], ids, codes.astype("<u8", copy=False).view("<U2").tolist()


def _whole_tokens(rows: np.ndarray, values: np.ndarray, label: Callable[[Any], str]) -> TokenTable:
    """One token per row, ``label`` of the row's value (an int or a str), made once per distinct value."""
    ids, uniques = pd.factorize(values)
    return rows, ids, [label(v) for v in uniques.tolist()]


def _fast_words(table: np.ndarray) -> Callable[[np.ndarray], tuple[np.ndarray, list[TokenTable]]]:
    """Given names and free text: the bigrams of the folded words joined by '_'."""
    def cut(chars: np.ndarray) -> tuple[np.ndarray, list[TokenTable]]:
        return np.ones(len(chars), dtype=bool), [_bigram_table(table[chars])]
    return cut


def _fast_surname(chars: np.ndarray) -> tuple[np.ndarray, list[TokenTable]]:
    """One-word surnames (split_surname's common case, no tussenvoegsel): the folded word's bigrams."""
    mapped = _SURNAME_CHARS[chars]
    letter = (mapped != 0) & (mapped != _SEP)
    words = np.count_nonzero(letter[:, 1:] & ~letter[:, :-1], axis=1) + letter[:, 0]
    taken = (words <= 1) & ~(mapped == _SLOW).any(axis=1)
    rows, ids, toks = _bigram_table(mapped[taken])
    return taken, [(np.flatnonzero(taken)[rows], ids, toks)]


def _fast_postcode(chars: np.ndarray) -> tuple[np.ndarray, list[TokenTable]]:
    """Bigrams without white space, lower case; the digits in order as one token."""
    digit = (chars >= ord("0")) & (chars <= ord("9"))
    order = np.argsort(~digit, axis=1, kind="stable")  # digits first, in their order
    digits = np.ascontiguousarray(np.take_along_axis(np.where(digit, chars, 0), order, axis=1))
    as_str = digits.view(f"U{digits.shape[1]}").ravel()
    has = np.flatnonzero(digit.any(axis=1))
    return np.ones(len(chars), dtype=bool), [_bigram_table(_POSTCODE_CHARS[chars]),
                                              _whole_tokens(has, as_str[has], lambda d: f"pc4:{d}")]


_DIGITS_AT = {"ymd8": [0, 1, 2, 3, 4, 5, 6, 7], "ymd10": [0, 1, 2, 3, 5, 6, 8, 9], "dmy10": [0, 1, 3, 4, 6, 7, 8, 9]}
_ORDINAL_1970 = _date_check(1970, 1, 1).toordinal()


def _fast_date(chars: np.ndarray) -> tuple[np.ndarray, list[TokenTable]]:
    """YYYYMMDD, YYYY-MM-DD and DD-MM-YYYY (also with / or .) with two-digit day and month, as
    ``_date`` reads them; an impossible date has no tokens."""
    if chars.shape[1] < 10:
        chars = np.pad(chars, ((0, 0), (0, 10 - chars.shape[1])))
    length = np.count_nonzero(chars, axis=1)
    digit = (chars >= ord("0")) & (chars <= ord("9"))
    num = chars[:, :10].astype(np.int64) - ord("0")
    sep = np.isin(chars[:, [2, 5]], [ord("-"), ord("/"), ord(".")])  # DD-MM-YYYY's separators
    ymd8 = (length == 8) & digit[:, _DIGITS_AT["ymd8"]].all(axis=1)
    ymd10 = (length == 10) & digit[:, _DIGITS_AT["ymd10"]].all(axis=1) & \
        (chars[:, 4] == ord("-")) & (chars[:, 7] == ord("-"))
    dmy10 = (length == 10) & digit[:, _DIGITS_AT["dmy10"]].all(axis=1) & sep.all(axis=1)

    def number(*cols: int) -> np.ndarray:
        out = np.zeros(len(chars), dtype=np.int64)
        for c in cols:
            out = out * 10 + num[:, c]
        return out

    y = np.where(dmy10, number(6, 7, 8, 9), number(0, 1, 2, 3))
    m = np.select([ymd8, ymd10], [number(4, 5), number(5, 6)], number(3, 4))
    d = np.select([ymd8, ymd10], [number(6, 7), number(8, 9)], number(0, 1))
    taken = ymd8 | ymd10 | dmy10
    ok = taken & (y >= 1) & (m >= 1) & (m <= 12) & (d >= 1)
    month = ((np.where(ok, y, 1970) - 1970) * 12 + np.where(ok, m, 1) - 1).astype("datetime64[M]")
    first = month.astype("datetime64[D]").astype(np.int64)
    ok &= d <= (month + 1).astype("datetime64[D]").astype(np.int64) - first
    rows = np.flatnonzero(ok)
    y, m, d, o = y[rows], m[rows], d[rows], first[rows] + d[rows] - 1 + _ORDINAL_1970
    lo, hi = np.minimum(d, m), np.maximum(d, m)
    return taken, [_whole_tokens(rows, y, lambda v: f"y:{v}"),
                   _whole_tokens(rows, m, lambda v: f"m:{v}"),
                   _whole_tokens(rows, d, lambda v: f"d:{v}"),
                   _whole_tokens(rows, lo * 100 + hi, lambda v: f"dm:{v // 100}-{v % 100}"),
                   _whole_tokens(rows, o // 7, lambda v: f"w:{v}"),
                   _whole_tokens(rows, (o + 3) // 7, lambda v: f"w':{v}")]


# kind -> the fast path: (which rows of the character matrix it took, their tokens)
FAST_SPLITTERS: dict[str, Callable[[np.ndarray], tuple[np.ndarray, list[TokenTable]]]] = {
    "given_name": _fast_words(_GIVEN_NAME_CHARS), "text": _fast_words(_TEXT_CHARS),
    "surname": _fast_surname, "postcode": _fast_postcode, "date": _fast_date,
}


def _slow_tokens(kind: FieldKind, values: Sequence[str], rows: np.ndarray) -> TokenTable:
    """``tokens`` of each of ``values[rows]``."""
    spec = FieldSpec("", kind)
    per_value = [tokens(spec, values[i]) for i in rows.tolist()]
    flat = [t for ts in per_value for t in ts]
    if not flat:
        return _EMPTY
    ids, uniques = pd.factorize(np.array(flat, dtype=object))
    return np.repeat(rows, [len(ts) for ts in per_value]), ids, uniques.tolist()


def value_tokens(kind: FieldKind, values: Sequence[str]) -> TokenTable:
    """The tokens of many strings of one kind, as ``tokens`` gives them one by one: the kind's
    fast path takes what it can, ``tokens`` the rest."""
    tables: list[TokenTable] = []
    slow = np.ones(len(values), dtype=bool)
    splitter = FAST_SPLITTERS.get(kind)
    if splitter is not None and len(values):
        at, chars = _ascii_matrix(values)
        taken, fast_tables = splitter(chars)
        tables += [(at[rows], ids, toks) for rows, ids, toks in fast_tables]
        slow[at[taken]] = False
    tables.append(_slow_tokens(kind, values, np.flatnonzero(slow)))
    offsets = np.cumsum([0] + [len(t[2]) for t in tables])
    return (np.concatenate([t[0] for t in tables]).astype(np.int64),
            np.concatenate([t[1] + off for t, off in zip(tables, offsets)]).astype(np.int64),
            [tok for t in tables for tok in t[2]])


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
        self._inverse_shift = (self._inverse_perm & 7).astype(np.uint8)
        self._cache: dict[tuple[str, int], tuple[dict[str, int], np.ndarray]] = {}

    def _positions(self, space: str, tokens: Sequence[str], k: int) -> np.ndarray:
        """(len(tokens), k) positions in [0, bits): double hashing (h1 + i*h2 mod 2^64, mod bits)
        of keyed BLAKE2b (a PRF, three times faster here than HMAC-SHA256) of (field or group, token).
        The keyed state after the field's prefix is made once and copied for every token."""
        prefixed = hashlib.blake2b(key=self._pos_key, digest_size=16)
        prefixed.update(f"{space}\x00".encode("utf-8"))

        def digest(t: str) -> bytes:
            h = prefixed.copy()
            h.update(t.encode("utf-8"))
            return h.digest()

        h = np.frombuffer(b"".join(map(digest, tokens)), dtype="<u8").reshape(len(tokens), 2).astype(np.uint64)
        steps = np.arange(k, dtype=np.uint64)
        with np.errstate(over="ignore"):
            pos = h[:, :1] + steps[None, :] * (h[:, 1:] | np.uint64(1))
        return (pos % np.uint64(self.schema.bits)).astype(np.int64)

    def _token_positions(self, spec: FieldSpec, toks: Sequence[str]) -> np.ndarray:
        """(len(toks), k) positions of tokens, hashed once per (field space, token)."""
        index, table = self._cache.get((spec.space, spec.k), ({}, np.zeros((0, spec.k), np.int64)))
        new = list(dict.fromkeys(t for t in toks if t not in index))
        if new:
            index.update(zip(new, range(len(index), len(index) + len(new))))
            table = np.concatenate([table, self._positions(spec.space, new, spec.k)])
            self._cache[(spec.space, spec.k)] = (index, table)
        return table[np.fromiter(map(index.__getitem__, toks), dtype=np.int64, count=len(toks))]

    def _value_filters(self, spec: FieldSpec, values: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(len(values), bits/64) uint64 plain filters of a field's distinct values, and which
        values had any token."""
        rows, ids, distinct = value_tokens(spec.kind, values)
        m, n = self.schema.bits, len(values)
        positions = self._token_positions(spec, distinct)[ids]  # (token occurrences, k)
        flat = np.zeros(n * m, dtype=bool)
        flat[(rows[:, None] * m + positions).ravel()] = True
        has = np.zeros(n, dtype=bool)
        has[rows] = True
        return np.packbits(flat, bitorder="little").view(np.uint64).reshape(n, m // 64), has

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
            filters, has = self._value_filters(spec, values)
            plain |= filters[codes]
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
        # balance and permute on the transposed bytes (row j: byte j of every record), so the keyed
        # permutation is a row gather: place p takes bit (q & 7) of byte row q >> 3, q = _inverse_perm[p]
        n, m = len(mixed), self.schema.bits
        both = np.concatenate([mixed, ~mixed], axis=1)  # the complement's bits at m..2m-1
        by_byte = np.ascontiguousarray(both.view(np.uint8).T)  # (2m/8, n)
        bits = by_byte[self._inverse_perm >> 3]  # (2m, n): the byte holding each place's bit
        bits >>= self._inverse_shift[:, None]
        bits &= 1
        packed = np.einsum("jin,i->jn", bits.reshape(2 * m // 8, 8, n), _WEIGHTS)
        return np.ascontiguousarray(packed.T).view(np.uint64)

    def encode(self, frame: pd.DataFrame) -> Encodings:
        """Hardened (Rule 90), balanced, keyed encodings of every row of ``frame``."""
        plain, empty = self.plain_filters(frame)
        return Encodings(self.harden(plain), self.schema.fingerprint(), empty)
