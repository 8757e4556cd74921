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
    assert list(r.frame["extra"]) == ["x", "y"]


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
