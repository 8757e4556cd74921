"""Reading holders' files: every bad input names file, row and column; nothing half-loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from wijkindex.errors import InputFileError
from wijkindex.linkage.records import ColumnSpec, load_records

COLS = [ColumnSpec("bsn", "bsn"), ColumnSpec("geboortedatum", "date"), ColumnSpec("jeugdhulp", "flag")]


def write(tmp_path: Path, text: str | bytes, name: str = "data.csv") -> Path:
    p = tmp_path / "ggd" / name
    p.parent.mkdir(exist_ok=True)
    p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return p


def test_good_file(tmp_path: Path) -> None:
    p = write(tmp_path, "bsn,geboortedatum,jeugdhulp,extra\n111222333,2010-01-02,1,x\n 12345678 2,02-01-2011,nee,y\n")
    r = load_records(p, COLS)
    assert r.n_read == 2 and r.n_excluded == 0
    assert list(r.frame["bsn"]) == ["111222333", "123456782"]
    assert list(r.frame["jeugdhulp"]) == [True, False]
    assert str(r.frame["geboortedatum"].iloc[1].date()) == "2011-01-02"
    assert "extra" not in r.frame.columns  # a column the config does not declare is not kept


def test_bad_values_fail_with_location_and_masked_bsn(tmp_path: Path) -> None:
    p = write(tmp_path, "bsn,geboortedatum,jeugdhulp\n111222333,2010-01-02,1\n123456789,2014-02-30,misschien\n")
    with pytest.raises(InputFileError) as err:
        load_records(p, COLS)
    msg = str(err.value)
    assert "ggd/data.csv, row 2, column 'bsn': fails the 11-proef" in msg
    assert "row 2, column 'geboortedatum': impossible date" in msg
    assert "row 2, column 'jeugdhulp': not a 0/1 flag" in msg
    assert "123456789" not in msg and "*******89" in msg


def test_exclude_mode_counts(tmp_path: Path) -> None:
    p = write(tmp_path, "bsn;geboortedatum;jeugdhulp\n111222333;2010-01-02;1\n123456789;2010-01-02;1\n")
    r = load_records(p, COLS, on_invalid="exclude")
    assert r.n_read == 2 and r.n_excluded == 1 and len(r.frame) == 1
    assert r.issues[0].location.row == 2


@pytest.mark.parametrize("content, message", [
    ("bsn,jeugdhulp\n111222333,1\n", r"missing column\(s\) geboortedatum"),
    ("", "empty"),
    (b"bsn,geboortedatum,jeugdhulp\n111222333,2010-01-02,\xe9\n", "not UTF-8 at byte"),
    ("bsn,bsn,geboortedatum,jeugdhulp\n1,1,2010-01-01,1\n", "appear twice"),
    ("bsn,geboortedatum,jeugdhulp\n111222333,2010-01-02,1,5,6\n", "not a valid CSV"),
])
def test_malformed_files(tmp_path: Path, content: str | bytes, message: str) -> None:
    with pytest.raises(InputFileError, match=message):
        load_records(write(tmp_path, content), COLS)


def test_bom_and_missing_file(tmp_path: Path) -> None:
    p = write(tmp_path, "\ufeffbsn,geboortedatum,jeugdhulp\n111222333,2010-01-02,ja\n")
    assert load_records(p, COLS).n_read == 1
    with pytest.raises(InputFileError, match="not found"):
        load_records(tmp_path / "nope.csv", COLS)


def test_huge_field_is_refused(tmp_path: Path) -> None:
    p = write(tmp_path, "bsn,geboortedatum,jeugdhulp,naam\n111222333,2010-01-02,1," + "x" * 20000 + "\n")
    with pytest.raises(InputFileError, match="longer than"):
        load_records(p, [*COLS, ColumnSpec("naam", "str")])


# ---- what may leave the node: public_message() names places, never values ---------------

import csv  # noqa: E402
import io  # noqa: E402

from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from wijkindex.errors import WijkindexError, public_reason  # noqa: E402
from wijkindex.linkage.records import RecordIssue  # noqa: E402

PUBLIC_COLS = [ColumnSpec("bsn", "bsn"), ColumnSpec("geboortedatum", "date"), ColumnSpec("naam", "str"),
               ColumnSpec("jeugdhulp", "flag")]
# every fixed phrase a public text of records.py may hold, the names it may hold, and the fix:
# a value that is a piece of these can appear in a public text without having leaked
VOCABULARY = "\n".join([
    "export.csv", "jgz", *(c.name for c in PUBLIC_COLS), InputFileError.fix, InputFileError.summary,
    "not 9 digits", "fails the 11-proef", "impossible date", "unknown date format", "not a 0/1 flag",
    "not a Dutch postcode", "not an integer", "longer than 10000 characters", "appears in more than one row",
    "invalid value(s) in row(s) of dataset column rows and more; missing column(s) the header has column(s), "
    "of the declared ones appear twice in the header other column name(s) not a valid CSV table (near line "
    "have a different number of fields than the header not UTF-8 at byte export the file as UTF-8 "
    "the file is empty file not found cannot be read how to resolve: [WI100]",
])


def _csv_text(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _pieces(value: str) -> set[str]:
    """The value, stripped as the parsers strip it, and its first 4 and more characters."""
    out = set()
    for v in (value, value.strip()):
        out.update(v[:k] for k in range(4, len(v) + 1))
    return out


def _leaks(value: str, public: str) -> list[str]:
    """Pieces of a value (4+ characters) found in a public text, less those it may hold anyway:
    pieces of its fixed phrases and names, and lists of row numbers ("3, 4"); a run of 4 digits
    is a leak (the test files are too small for a row or count of 1000)."""
    return sorted(p for p in _pieces(value)
                  if p in public and p not in VOCABULARY and (p.isdigit() or not set(p) <= set("0123456789, ()\n")))


def test_public_message_names_file_column_and_rows_but_no_value(tmp_path: Path) -> None:
    long_name = "Wilhelmina-Josephina Anneliese van Oldenbarnevelt"
    bad = {"bsn": "123456789", "date": "2014-02-30", "name_as_date": "Maximiliaan-Alexander"}
    good_bsn, other_bsn = "111222333", "123456782"
    rows = [["bsn", "geboortedatum", "naam", "jeugdhulp"],
            [good_bsn, "2010-01-02", "Jan", "1"],
            [bad["bsn"], "2011-05-06", long_name, "0"],  # row 2: fails the 11-proef
            [other_bsn, bad["date"], "Pietje Puk", "1"],  # row 3: impossible date
            ["000000012", bad["name_as_date"], "Klaas", "0"]]  # row 4: a name where a date belongs
    p = write(tmp_path, _csv_text(rows), "export.csv")
    with pytest.raises(InputFileError) as err:
        load_records(p, PUBLIC_COLS, on_invalid="fail", dataset="jgz")
    public = err.value.public_message()
    # no value of the file, bad or good, nor its first 4 and more characters (nor the masked BSN)
    values = [*bad.values(), long_name, good_bsn, other_bsn, "2010-01-02", "2011-05-06", "Pietje Puk", "Klaas"]
    for v in values:
        for k in range(4, len(v) + 1):
            assert v[:k] not in public, (v[:k], public)
    assert "*******89" not in public and "'89'" not in public
    # the place: code, file (basename only), columns, rows, counts, a fixed reason each
    assert public.startswith("[WI100] export.csv: 3 invalid value(s) in 3 row(s) of dataset jgz"), public
    assert "column 'bsn': 1 invalid value(s) (row 2): fails the 11-proef" in public, public
    assert ("column 'geboortedatum': 2 invalid value(s) (rows 3, 4): impossible date; unknown date format"
            in public), public
    assert "how to resolve: " + InputFileError.fix in public
    assert "ggd/" not in public and str(tmp_path) not in public
    # the node's own log keeps what it showed before: the masked BSN, the first 20 characters
    local = str(err.value)
    assert "ggd/export.csv, row 2, column 'bsn': fails the 11-proef (value *******89)" in local
    assert "2014-02-30" in local and bad["name_as_date"][:20] in local


def test_public_message_of_a_file_without_a_header_row(tmp_path: Path) -> None:
    """An export without a header: its 'header' is the first child's BSN, birth date and name."""
    p = write(tmp_path, "111222333,2010-01-02,Jantje Beton,1\n123456782,2011-02-03,Pietje Puk,0\n", "export.csv")
    with pytest.raises(InputFileError) as err:
        load_records(p, PUBLIC_COLS)
    public = err.value.public_message()
    assert "export.csv: missing column(s) bsn, geboortedatum, naam, jeugdhulp; the header has 4 column(s)" in public
    for v in ("111222333", "2010-01-02", "Jantje Beton"):
        assert v in str(err.value) and not _leaks(v, public), public
    dup = write(tmp_path, "bsn,111222333,111222333,geboortedatum,naam,jeugdhulp\n1,2,3,4,5,6\n", "dup.csv")
    with pytest.raises(InputFileError) as err:
        load_records(dup, PUBLIC_COLS)
    assert "dup.csv: column(s) 1 other column name(s) appear twice" in err.value.public_message()
    assert "111222333" not in err.value.public_message()


def test_public_texts_without_a_public_part_fall_back_to_the_summary() -> None:
    exc = WijkindexError("dataset jgz: no export at /srv/ggd/jgz-2014.csv (child 123456782)",
                         fix="look in /srv/ggd/private")
    assert exc.public_message() == f"[WI000] {WijkindexError.summary}"
    inp = InputFileError("/srv/ggd/x.csv: found 123456782, Jantje")
    assert inp.public_message() == f"[WI100] {InputFileError.summary}\n  how to resolve: {InputFileError.fix}"
    assert "123456782" not in public_reason(ValueError("bad BSN 123456782")) and "ValueError" in public_reason(
        ValueError("x"))
    assert public_reason(inp) == inp.public_message()


def test_public_reason_of_an_issue_keeps_only_the_fixed_phrase() -> None:
    from wijkindex.errors import Location

    loc = Location("ggd/x.csv", 3, "bsn")
    assert RecordIssue(loc, "*******89", "fails the 11-proef; linked on its identifiers instead").public_reason \
        == "fails the 11-proef"
    assert RecordIssue(loc, "'2014-02-30'", "impossible date '2014-02-30'").public_reason == "impossible date"
    assert RecordIssue(loc, "'x'", "something quoting 'x'").public_reason == "invalid value"


_VALUES = st.one_of(
    st.text(min_size=4, max_size=40),
    st.from_regex(r"[0-9]{9}", fullmatch=True),  # BSN-like, most fail the 11-proef
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True),  # date-like, many impossible
    st.text(st.characters(min_codepoint=32, max_codepoint=0x24F), min_size=21, max_size=80),  # long names
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=_VALUES, row=st.integers(0, 3), column=st.sampled_from([c.name for c in PUBLIC_COLS]))
def test_public_message_never_holds_an_injected_value(tmp_path_factory, value: str, row: int, column: str) -> None:
    """Whatever value sits in whatever cell (row 0: in the header), the file's public text never
    holds it; row 4 is always bad, so the load always fails."""
    assume(len(value.strip()) >= 4 and value.strip() not in VOCABULARY)
    rows = [[c.name for c in PUBLIC_COLS], ["111222333", "2010-01-02", "Jan", "1"],
            ["123456782", "2011-02-03", "Piet", "0"], ["000000012", "2012-03-04", "Klaas", "ja"],
            ["123456789", "2013-04-05", "Anna", "1"]]
    rows[row][[c.name for c in PUBLIC_COLS].index(column)] = value
    path = tmp_path_factory.mktemp("inject") / "export.csv"
    path.write_text(_csv_text(rows), encoding="utf-8")
    with pytest.raises(InputFileError) as err:
        load_records(path, PUBLIC_COLS, on_invalid="fail", dataset="jgz", unique="bsn")
    public = err.value.public_message()
    assert public.startswith("[WI100] export.csv: "), public
    assert not _leaks(value, public), (value, public)


def test_value_free_errors_send_their_own_message_others_only_their_public_text() -> None:
    from wijkindex.errors import CryptoError, InputFileError, public_reason
    from wijkindex.privacy.ledger import ReplayRefused

    assert public_reason(CryptoError("the task's cells differ")) == "[WI400] the task's cells differ"
    assert public_reason(ReplayRefused("round r: joined before")) == "[WI620] round r: joined before"
    text = public_reason(InputFileError("brp.csv row 3: bad BSN 123456782"))
    assert "123456782" not in text and text.startswith("[WI100]")
