"""Normalisers for Dutch names, the keyed balanced encodings and the matcher on small known cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wijkindex.linkage.encoding import (DUTCH_CHILD_SCHEMA, FAST_SPLITTERS, FIELD_KINDS, Encoder, Encodings,
                                        EncodingSchema, FieldSpec, _ascii_matrix, tokens, value_tokens)
from wijkindex.linkage.fuzzy import identity_keys, link_without_bsn, spine_candidates
from wijkindex.linkage.matching import (FIXED_THRESHOLD, best_candidates, dice_all_pairs, dice_pairs, fit_threshold,
                                        greedy_one_to_one, link_best, match)
from wijkindex.linkage.normalise import fold, normalise_given_name, split_surname
from wijkindex.linkage.pseudonym import EncodingKey, LinkageSecret


@pytest.mark.parametrize("raw,expected", [
    ("van der Berg", ("van der", "berg")),
    ("Berg, van der", ("van der", "berg")),     # the register's sorting form
    ("V.d. Berg", ("van der", "berg")),         # abbreviated
    ("vd Berg", ("van der", "berg")),
    ("Van Den Heuvel", ("van den", "heuvel")),  # capitalised at the start of a line
    ("in 't Veld", ("in t", "veld")),
    ("d'Ancona", ("d", "ancona")),
    ("Brink-Kuipers", ("", "brink-kuipers")),   # hyphenated double name
    ("Brink - Kuipers", ("", "brink-kuipers")),
    ("Öztürk", ("", "ozturk")),                 # diacritics
    ("El Amrani", ("el", "amrani")),
    ("Van", ("", "van")),                       # a surname that is only a tussenvoegsel word
    ("  de   Jong ", ("de", "jong")),
])
def test_split_surname(raw: str, expected: tuple[str, str]) -> None:
    assert split_surname(raw) == expected


@pytest.mark.parametrize("raw,expected", [
    ("Zoë", "zoe"), ("Loïs", "lois"), ("Esmée", "esmee"), ("Zoë-Anne", "zoe anne"),
    ("  Jan  Pieter ", "jan pieter"), ("ANNA", "anna"), ("Şükrü", "sukru"),
])
def test_given_name(raw: str, expected: str) -> None:
    assert normalise_given_name(raw) == expected


@given(st.text(max_size=40))
def test_fold_is_idempotent_and_plain_ascii(s: str) -> None:
    f = fold(s)
    assert fold(f) == f
    assert all(ch in "abcdefghijklmnopqrstuvwxyz -'." for ch in f)


def test_date_tokens_survive_day_month_swap_and_formats() -> None:
    spec = FieldSpec("d", "date", 4)
    iso, swapped, dutch = tokens(spec, "2012-03-07"), tokens(spec, "2012-07-03"), tokens(spec, "07-03-2012")
    assert iso == dutch  # the same date in two formats
    assert set(iso) & set(swapped) == {"y:2012", "dm:3-7"}
    assert tokens(spec, "31-02-2012") == []  # impossible dates carry no tokens


_DATE_FORMS = (lambda d: f"{d.year:04d}{d.month:02d}{d.day:02d}", lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}",
               lambda d: f"{d.day:02d}-{d.month:02d}-{d.year:04d}", lambda d: f"{d.day:02d}/{d.month:02d}/{d.year:04d}",
               lambda d: f"{d.day}.{d.month}.{d.year:04d}", lambda d: f" {d.isoformat()}")
_any_value = st.one_of(
    st.text(alphabet=st.characters(max_codepoint=127), max_size=20),  # ASCII: the fast paths
    st.text(alphabet="aAzZ -'.,_09\t", max_size=12),  # word breaks, tussenvoegsel marks
    st.text(max_size=12),  # anything (diacritics, NUL, other scripts)
    st.sampled_from(["Zoë-Anne", "Öztürk", "Berg, van der", "in 't Veld", "d'Ancona", "V.d. Berg", "vd Berg",
                     "O'Brien", "Straße", "İlker", "x\u0301", "ab\x00", "a\x00b", "x" * 70, "1234 AB", "8011ab"]),
    st.builds(lambda d, form: form(d), st.dates(), st.sampled_from(_DATE_FORMS)),
    st.from_regex(r"[0-9]{8}|[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{2}[-/.][0-9]{2}[-/.][0-9]{4}", fullmatch=True),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_any_value, max_size=25))
def test_value_tokens_equal_tokens_one_by_one(values: list[str]) -> None:
    """The numpy fast paths and ``tokens`` (the definition) cut every value alike."""
    for kind in FIELD_KINDS:
        rows, ids, distinct = value_tokens(kind, values)
        got: list[list[str]] = [[] for _ in values]
        for r, i in zip(rows.tolist(), ids.tolist()):
            got[r].append(distinct[i])
        spec = FieldSpec("c", kind)
        assert [sorted(t) for t in got] == [sorted(tokens(spec, v)) for v in values], kind


def test_fast_paths_take_the_common_values() -> None:
    """The common forms take the numpy path (else encoding slows down unnoticed); surnames with a
    tussenvoegsel are left to split_surname."""
    common = {"given_name": ["Emma", "Jan-Pieter", "d'Arcy", " ANNA  Maria "], "text": ["stanley street", "12a"],
              "surname": ["Jansen", "Brink-Kuipers", ""], "postcode": ["8011 AB", "4223"],
              "date": ["20120307", "2012-03-07", "07-03-2012", "07/03/2012", "31-02-2012"]}
    for kind, values in common.items():
        at, chars = _ascii_matrix(values)
        taken, _ = FAST_SPLITTERS[kind](chars)
        assert len(at) == len(values) and taken.all(), kind
    at, chars = _ascii_matrix(["van der Berg", "Berg, van der", "O'Brien"])
    assert not FAST_SPLITTERS["surname"](chars)[0].any()  # tussenvoegsels: split_surname decides


def _key(b: bytes = b"k" * 32) -> EncodingKey:
    return EncodingKey(b, "r1")


def _records() -> pd.DataFrame:
    return pd.DataFrame({
        "voornaam": ["Emma", "Noah", "Zoë", "Sem", "Tess"],
        "achternaam": ["de Jong", "van der Berg", "Öztürk", "Bakker", "Jansen"],
        "geboortedatum": ["2012-03-07", "2015-11-30", "2009-01-02", "2016-06-16", "2011-09-21"],
        "geslacht": ["V", "M", "V", "M", "V"],
        "postcode": ["8011 AB", "8012CD", "8021 EF", "8031 GH", "8041 JK"],
    })


def test_encodings_are_balanced_keyed_and_deterministic() -> None:
    frame = _records()
    a = Encoder(_key(), DUTCH_CHILD_SCHEMA).encode(frame)
    again = Encoder(_key(), DUTCH_CHILD_SCHEMA).encode(frame)
    other = Encoder(_key(b"x" * 32), DUTCH_CHILD_SCHEMA).encode(frame)
    assert a.bits.shape == (5, DUTCH_CHILD_SCHEMA.words)
    assert (np.bitwise_count(a.bits).sum(axis=1) == DUTCH_CHILD_SCHEMA.bits).all()  # exactly half set
    assert np.array_equal(a.bits, again.bits)
    # another key: unrelated bits (Dice about 1/2, as for random balanced vectors)
    cross = dice_pairs(a.bits, other.bits, np.arange(5), np.arange(5))
    assert (np.abs(cross - 0.5) < 0.1).all()


def test_encoding_key_is_round_bound() -> None:
    secret = LinkageSecret(b"s" * 32)
    k1, k2 = EncodingKey.derive(secret, "r1"), EncodingKey.derive(secret, "r2")
    assert k1.subkey("positions") != k2.subkey("positions")
    assert EncodingKey.derive(secret, "r1").subkey("positions") == k1.subkey("positions")


def test_typos_keep_records_close() -> None:
    frame = _records()
    typo = frame.copy()
    typo.loc[0, "voornaam"] = "Ema"                        # a typo
    typo.loc[1, "achternaam"] = "Berg, van der"             # the register's form
    typo.loc[2, "geboortedatum"] = "2009-02-01"             # day and month swapped
    typo.loc[3, "postcode"] = "8032 GH"                     # moved
    typo.loc[4, "voornaam"], typo.loc[4, "achternaam"] = "Jansen", "Tess"  # names swapped
    enc = Encoder(_key(), DUTCH_CHILD_SCHEMA)
    a, b = enc.encode(frame), enc.encode(typo)
    same = dice_pairs(a.bits, b.bits, np.arange(5), np.arange(5))
    ia, ib = np.meshgrid(np.arange(5), np.arange(5), indexing="ij")
    off = ia != ib
    diff = dice_pairs(a.bits, b.bits, ia[off], ib[off])
    assert same.min() > diff.max() + 0.05, (same, diff.max())


def test_identical_records_score_one_and_empty_rows_never_link() -> None:
    frame = _records()
    frame.loc[4] = ["", "", "", "", ""]
    enc = Encoder(_key(), DUTCH_CHILD_SCHEMA)
    a = enc.encode(frame)
    assert a.empty.tolist() == [False, False, False, False, True]
    res = match(a, enc.encode(frame), threshold=0.8)
    assert sorted(map(tuple, res.pairs.tolist())) == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert np.allclose(res.scores, 1.0)


def test_schema_mismatch_is_refused() -> None:
    frame = _records()
    a = Encoder(_key(), DUTCH_CHILD_SCHEMA).encode(frame)
    other = EncodingSchema(DUTCH_CHILD_SCHEMA.fields[:4])
    b = Encoder(_key(), other).encode(frame)
    with pytest.raises(ValueError, match="different schemas"):
        match(a, b)


def test_missing_identifier_column_names_it() -> None:
    with pytest.raises(ValueError, match="postcode"):
        Encoder(_key(), DUTCH_CHILD_SCHEMA).encode(_records().drop(columns="postcode"))


def test_encodings_round_trip_bytes() -> None:
    enc = Encoder(_key(), DUTCH_CHILD_SCHEMA).encode(_records())
    back = Encodings.from_bytes(enc.to_bytes(), DUTCH_CHILD_SCHEMA)
    assert np.array_equal(back.bits, enc.bits)
    with pytest.raises(ValueError, match="expected 256"):
        Encodings.from_bytes([b"short"], DUTCH_CHILD_SCHEMA)


def test_greedy_assignment_is_one_to_one_highest_first() -> None:
    ia = np.array([0, 0, 1, 1, 2])
    ib = np.array([0, 1, 0, 1, 1])
    sc = np.array([0.95, 0.90, 0.97, 0.80, 0.85])
    keep = greedy_one_to_one(ia, ib, sc, threshold=0.82)
    got = sorted(zip(ia[keep].tolist(), ib[keep].tolist()))
    assert got == [(0, 1), (1, 0)]  # 1-0 (0.97) first, then 0-1 (0.90); 2-1 is taken, 1-1 below threshold


def test_em_threshold_separates_two_modes() -> None:
    rng = np.random.default_rng(1)
    scores = np.concatenate([rng.normal(0.70, 0.02, 3000), rng.normal(0.94, 0.04, 1000)]).clip(0, 1)
    model = fit_threshold(scores)
    assert 0.74 < model.threshold < 0.86
    assert abs(model.p_match - 0.25) < 0.03
    with pytest.raises(ValueError, match="too few"):
        fit_threshold(np.array([0.9, 0.9]))


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_dense_scores_equal_pairwise_scores(na: int, nb: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2**63, size=(na, 4), dtype=np.uint64)
    b = rng.integers(0, 2**63, size=(nb, 4), dtype=np.uint64)
    ia, ib, sc = dice_all_pairs(a, b, keep=nb, floor=0.0, chunk=7)
    assert len(ia) == na * nb
    assert np.allclose(sc, dice_pairs(a, b, ia, ib))


def _known_case() -> tuple[pd.DataFrame, pd.DataFrame]:
    """200 children; the other side has 150 of them (every third with a dropped letter) and 50 strangers."""
    from wijkindex.synth.names import FIRST_NAMES_F, FIRST_NAMES_M, SURNAMES

    rng = np.random.default_rng(7)
    n = 200
    people = pd.DataFrame({
        "voornaam": rng.choice(FIRST_NAMES_F + FIRST_NAMES_M, n),
        "achternaam": rng.choice(SURNAMES, n),
        "geboortedatum": [f"20{rng.integers(5, 20):02d}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}"
                          for _ in range(n)],
        "geslacht": rng.choice(["M", "V"], n),
        "postcode": [f"80{rng.integers(10, 47)} {chr(65 + rng.integers(26))}{chr(65 + rng.integers(26))}"
                     for _ in range(n)],
    })
    other = people.iloc[:150].copy().reset_index(drop=True)
    for i in range(0, 150, 3):  # every third: a dropped letter in the given name
        v = other.loc[i, "voornaam"]
        other.loc[i, "voornaam"] = v[:2] + v[3:] if len(v) > 3 else v
    strangers = people.iloc[150:].copy().reset_index(drop=True)
    strangers["geboortedatum"] = "1999-01-01"
    strangers["voornaam"] = strangers["voornaam"].str[::-1]
    return pd.concat([other, strangers], ignore_index=True), people.iloc[:150].reset_index(drop=True)


def test_match_links_a_small_known_case_with_automatic_threshold() -> None:
    """The evaluation path (``wijkindex linkage evaluate``): EM threshold, one-to-one."""
    other, spine = _known_case()
    enc = Encoder(_key(), DUTCH_CHILD_SCHEMA)
    res = match(enc.encode(other), enc.encode(spine))
    got = {tuple(p) for p in res.pairs.tolist()}
    assert got == {(i, i) for i in range(150)}
    assert res.model is not None and 0.6 < res.threshold < 0.95


def test_the_round_rule_links_the_small_known_case_at_the_fixed_threshold() -> None:
    other, spine = _known_case()
    enc = Encoder(_key(), DUTCH_CHILD_SCHEMA)
    res = link_best(enc.encode(other), enc.encode(spine))
    assert {tuple(p) for p in res.pairs.tolist()} == {(i, i) for i in range(150)}
    assert res.model is None and res.threshold == FIXED_THRESHOLD
    ids = {c: k for c, k in zip(DUTCH_CHILD_SCHEMA.columns, ["given_name", "surname", "date", "sex", "postcode"])}
    links = link_without_bsn(other, ids, spine_candidates(spine, ids, _key()), _key())
    assert sorted(zip(links.record_rows.tolist(), links.spine_rows.tolist())) == [(i, i) for i in range(150)]
    # the strangers: one identity group each, born on one day, so some share a block (ambiguous)
    assert len(links.unlinked_keys) + len(links.ambiguous_keys) == 50 and links.ambiguous_keys


def test_best_candidates_take_the_lowest_position_among_equal_scores() -> None:
    frame = _records()
    enc = Encoder(_key(), DUTCH_CHILD_SCHEMA)
    spine = enc.encode(pd.concat([frame.iloc[[1, 0, 2, 0, 1]]], ignore_index=True))  # rows 0 and 1 twice
    for block in (False, True):
        best = best_candidates(enc.encode(frame), spine, block=block)
        assert best.rows.tolist()[:3] == [1, 0, 2], block  # Emma: spine rows 1 and 3 tie; Noah: 0 and 4
        assert np.allclose(best.scores[:3], 1.0)


def test_best_candidates_skip_empty_rows_on_either_side() -> None:
    frame = _records()
    frame.loc[4] = ["", "", "", "", ""]
    enc = Encoder(_key(), DUTCH_CHILD_SCHEMA)
    a = enc.encode(frame)
    best = best_candidates(a, a)
    assert best.rows.tolist() == [0, 1, 2, 3, -1] and best.scores[4] == 0.0
    assert best_candidates(a, enc.encode(frame.iloc[[4]])).rows.tolist() == [-1] * 5


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 30), st.integers(1, 30), st.integers(0, 2**32 - 1))
def test_best_candidates_equal_the_brute_force_argmax(na: int, nb: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2**63, size=(na + nb, DUTCH_CHILD_SCHEMA.words), dtype=np.uint64)
    bits[na:][rng.random(nb) < 0.3] = bits[rng.integers(0, na + nb)]  # some equal rows: ties
    fp = DUTCH_CHILD_SCHEMA.fingerprint()
    a = Encodings(bits[:na], fp, np.zeros(na, bool))
    b = Encodings(bits[na:], fp, np.zeros(nb, bool))
    ia, ib = np.meshgrid(np.arange(na), np.arange(nb), indexing="ij")
    full = dice_pairs(a.bits, b.bits, ia.ravel(), ib.ravel()).reshape(na, nb)
    best = best_candidates(a, b, chunk=7)
    assert best.rows.tolist() == np.argmax(full, axis=1).tolist()  # argmax: the first of equals
    assert np.allclose(best.scores, full.max(axis=1))


def test_many_records_may_link_to_one_child_and_none_moves_another() -> None:
    """No assignment: two survey records of one child both link to it, and a third record that
    resembles it as well does not push either away."""
    frame = _records()
    enc = Encoder(_key(), DUTCH_CHILD_SCHEMA)
    spine = enc.encode(frame)
    recs = frame.iloc[[0, 0, 1]].reset_index(drop=True)
    recs.loc[1, "postcode"] = "8099 ZZ"  # the same child, moved
    res = link_best(enc.encode(recs), spine)
    assert res.pairs.tolist() == [[0, 0], [1, 0], [2, 1]]
    alone = link_best(enc.encode(recs.iloc[[2]]), spine)
    assert alone.pairs.tolist() == [[0, 1]]


def test_a_group_links_as_one_to_its_best_records_candidate() -> None:
    """Records with one identity key (name, core surname, date of birth) link together: a copy
    whose postcode and sex are wrong follows the copy that matches; other keys link on their own."""
    frame = _records()
    ids = dict(zip(DUTCH_CHILD_SCHEMA.columns, ["given_name", "surname", "date", "sex", "postcode"]))
    spine = spine_candidates(frame, ids, _key())
    recs = frame.iloc[[0, 0, 3]].reset_index(drop=True)
    recs.loc[1, ["geslacht", "postcode"]] = ["", "1011 AB"]
    recs.loc[1, "achternaam"] = "Jong, de"  # the same key: the core surname
    keys = identity_keys(recs, ids, _key())
    assert keys[0] == keys[1] != keys[2]
    strict = 0.99  # only exact copies reach it
    links = link_without_bsn(recs, ids, spine, _key(), threshold=strict)
    assert list(zip(links.record_rows.tolist(), links.spine_rows.tolist())) == [(0, 0), (1, 0), (2, 3)]
    assert links.unlinked_keys == frozenset()
    alone = link_without_bsn(recs.iloc[[1]], ids, spine, _key(), threshold=strict)  # without its copy: too far
    assert len(alone.record_rows) == 0 and alone.unlinked_keys == {keys[1]}


def test_token_positions_known_answer() -> None:
    """The positions follow docs/crypto.md, recomputed here from the standard primitives."""
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    secret = bytes(range(32))
    enc_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"wijkindex/v1/round-key",
                   info=b"encoding:2014-r1").derive(secret)
    pos_key = hmac.digest(enc_key, b"wijkindex/v1/encoding/positions", "sha256")
    d = hashlib.blake2b(b"naam\x00em", key=pos_key, digest_size=16).digest()
    h1, h2 = int.from_bytes(d[:8], "little"), int.from_bytes(d[8:], "little") | 1
    expected = [((h1 + i * h2) % 2**64) % 1024 for i in range(12)]
    encoder = Encoder(EncodingKey.derive(LinkageSecret(secret), "2014-r1"), DUTCH_CHILD_SCHEMA)
    assert encoder._positions("naam", ["em"], 12)[0].tolist() == expected


_name = st.sampled_from(["Emma", "Noah", "van der Berg", "Öztürk", "de Jong", "Zoë-Anne", "", "Brink-Kuipers"])


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(_name, _name, st.dates().map(str), st.sampled_from(["M", "V", ""]),
                          st.sampled_from(["8011 AB", "8012cd", ""])), min_size=1, max_size=12))
def test_encoding_a_table_equals_encoding_each_row(rows: list[tuple[str, str, str, str, str]]) -> None:
    """The vectorised encoder (distinct values, gathers, bit-matrix hardening) agrees row by row."""
    frame = pd.DataFrame(rows, columns=DUTCH_CHILD_SCHEMA.columns)
    enc = Encoder(_key(), DUTCH_CHILD_SCHEMA)
    whole = enc.encode(frame)
    for i in range(len(frame)):
        one = Encoder(_key(), DUTCH_CHILD_SCHEMA).encode(frame.iloc[[i]])
        assert np.array_equal(one.bits[0], whole.bits[i])
        assert one.empty[0] == whole.empty[i]
    assert (np.bitwise_count(whole.bits).sum(axis=1) == DUTCH_CHILD_SCHEMA.bits).all()
