"""Identifiers: BSN 11-proef, normalisers, keyed pseudonyms (known-answer vectors and properties)."""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wijkindex.linkage.bsn import is_valid_bsn, normalise_bsn, random_bsn, random_invalid_bsn
from wijkindex.linkage.normalise import normalise_postcode, parse_date, parse_flag
from wijkindex.linkage.pseudonym import LinkageSecret, Pseudonymiser, RoundKey

VECTORS = Path(__file__).parent / "vectors"


def test_bsn_vectors() -> None:
    v = json.loads((VECTORS / "bsn.json").read_text())
    for s in v["valid"]:
        assert is_valid_bsn(s) and normalise_bsn(s) == s
    for raw, expected in v["valid_after_normalising"].items():
        assert normalise_bsn(raw) == expected
    for raw, reason in v["invalid"].items():
        with pytest.raises(ValueError, match=reason):
            normalise_bsn(raw)


@given(st.integers(0, 2**32))
def test_random_bsn_is_valid_and_every_single_digit_error_is_caught(seed: int) -> None:
    rng = random.Random(seed)
    bsn = random_bsn(rng)
    assert is_valid_bsn(bsn)
    assert not is_valid_bsn(random_invalid_bsn(rng))
    pos = rng.randrange(9)
    for d in "0123456789":
        if d != bsn[pos]:
            assert not is_valid_bsn(bsn[:pos] + d + bsn[pos + 1:])


@pytest.mark.parametrize("raw, expected", [
    ("2014-03-05", date(2014, 3, 5)), ("05-03-2014", date(2014, 3, 5)), ("5/3/2014", date(2014, 3, 5)),
    ("20140305", date(2014, 3, 5)), (" 2012-02-29 ", date(2012, 2, 29)),
])
def test_dates(raw: str, expected: date) -> None:
    assert parse_date(raw) == expected


@pytest.mark.parametrize("raw, reason", [("2014-02-30", "impossible"), ("2013-02-29", "impossible"),
                                         ("March 5", "unknown date format"), ("", "unknown date format")])
def test_bad_dates(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_date(raw)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
def test_dates_round_trip_in_every_format(d: date) -> None:
    for text in (d.isoformat(), d.strftime("%d-%m-%Y"), d.strftime("%d/%m/%Y"), d.strftime("%Y%m%d")):
        assert parse_date(text) == d


def test_postcodes_and_flags() -> None:
    assert normalise_postcode(" 8011 ab ") == "8011AB" == normalise_postcode("8011AB")
    for bad in ("0123AB", "8011 SS", "801AB", "8011A"):
        with pytest.raises(ValueError):
            normalise_postcode(bad)
    assert [parse_flag(x) for x in ("1", "Ja", "TRUE", "y", "0", "nee", "", "False")] == [True] * 4 + [False] * 4
    with pytest.raises(ValueError):
        parse_flag("misschien")


def test_pseudonym_known_answers(tmp_path: Path) -> None:
    kat = json.loads((VECTORS / "pseudonym_kat.json").read_text())
    path = tmp_path / "secret.key"
    path.write_text(f"wijkindex-linkage-secret v1\n{kat['secret']}\n")  # the v1 secret file format
    secret = LinkageSecret.from_file(path)
    for case in kat["cases"]:
        p = Pseudonymiser(RoundKey.derive(secret, case["round_id"]))
        assert p.pseudonymise(case["bsn"]).hex() == case["pseudonym"]
        assert p.pseudonymise_many([case["bsn"]])[0].hex() == case["pseudonym"]


@given(st.lists(st.from_regex(r"[0-9]{9}", fullmatch=True), min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_pseudonyms_deterministic_in_a_round_unlinkable_across(bsns: list[str], rid: str) -> None:
    secret = LinkageSecret(bytes(range(32)))
    a = Pseudonymiser(RoundKey.derive(secret, rid)).pseudonymise_many(bsns)
    b = Pseudonymiser(RoundKey.derive(secret, rid)).pseudonymise_many(bsns)
    c = Pseudonymiser(RoundKey.derive(secret, rid + "x")).pseudonymise_many(bsns)
    assert a == b and all(len(x) == 32 for x in a)
    assert not set(a) & set(c)


def test_secret_file_handling(tmp_path: Path) -> None:
    s = LinkageSecret.generate()
    path = tmp_path / "linkage.key"
    s.write(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert LinkageSecret.from_file(path).fingerprint() == s.fingerprint()
    with pytest.raises(FileExistsError):
        s.write(path)
    assert path.read_text().strip() not in repr(s)
    short = tmp_path / "short.key"
    short.write_text("abcd")
    with pytest.raises(ValueError, match="short.key"):
        LinkageSecret.from_file(short)
