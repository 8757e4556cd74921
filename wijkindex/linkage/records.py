"""Reading a holder's CSV export with validation that names file, row and column.

Row numbers are 1-based data rows (the header is row 0), so row 17 is the 17th record
and line 18 of the file, as a spreadsheet shows it less its header. Values are
normalised by kind; bad ones either fail the load (listing the first issues) or are
excluded and counted, as the node's ``on_invalid`` says.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, Sequence

import numpy as np
import pandas as pd

from wijkindex.errors import InputFileError, Location
from wijkindex.linkage.bsn import normalise_bsn
from wijkindex.linkage.normalise import normalise_postcode, parse_date, parse_flag

Kind = Literal["bsn", "date", "flag", "str", "code", "postcode", "int"]
MAX_FIELD = 10_000
_SHOWN_ISSUES = 10


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: Kind
    required: bool = True


@dataclass(frozen=True)
class RecordIssue:
    location: Location
    value: str
    reason: str

    def __str__(self) -> str:
        return f"{self.location}: {self.reason} (value {self.value})"


@dataclass
class LoadedRecords:
    frame: pd.DataFrame
    issues: list[RecordIssue] = field(default_factory=list)
    n_read: int = 0
    n_excluded: int = 0
    path: str = ""


def shown_value(value: str, kind: Kind) -> str:
    """A value as it may appear in a log: BSNs masked but for the last 2 digits, all truncated."""
    v = str(value)
    if kind == "bsn":
        return "*" * max(0, len(v) - 2) + v[-2:] if v else "''"
    return repr(v[:20] + ("..." if len(v) > 20 else ""))


def _int(v: str) -> int:
    try:
        return int(v.strip())
    except ValueError:
        raise ValueError("not an integer") from None


def _text(v: str) -> str:
    if len(v) > MAX_FIELD:
        raise ValueError(f"longer than {MAX_FIELD} characters")
    return v.strip()


_PARSERS: dict[str, Callable[[str], object]] = {
    "bsn": normalise_bsn, "date": parse_date, "flag": parse_flag, "postcode": normalise_postcode,
    "int": _int, "str": _text, "code": _text,
}


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputFileError(f"{path}: file not found") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot be read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputFileError(f"{path}: not UTF-8 at byte {exc.start} (line {line}); "
                             "export the file as UTF-8") from None
    if not text.strip():
        raise InputFileError(f"{path}: the file is empty")
    return text


def load_records(path: Path | str, columns: Sequence[ColumnSpec], *,
                 on_invalid: Literal["fail", "exclude"] = "fail", dataset: str = "",
                 unique: str | None = None) -> LoadedRecords:
    """Read and validate one CSV export (``,`` or ``;``, UTF-8 with or without BOM).

    ``unique`` names a column whose values must not repeat (the spine's BSN: one row per child);
    every row of a repeated value is an issue, since which of them is right cannot be told."""
    path = Path(path)
    name = f"{path.parent.name}/{path.name}"
    text = _read_text(path)
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    csv.field_size_limit(MAX_FIELD * 10)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise InputFileError(f"{name}: not a valid CSV table: {exc}") from None
    header = [h.strip() for h in rows[0]]
    body = [r for r in rows[1:] if r]  # blank lines carry no record
    ragged = [i + 1 for i, r in enumerate(rows[1:]) if r and len(r) != len(header)]
    if ragged:
        raise InputFileError(f"{name}: not a valid CSV table: row(s) {', '.join(map(str, ragged[:10]))} "
                             f"have a different number of fields than the header ({len(header)})")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise InputFileError(f"{name}: column(s) {', '.join(dupes)} appear twice in the header")
    missing = [c.name for c in columns if c.required and c.name not in header]
    if missing:
        raise InputFileError(f"{name}: missing column(s) {', '.join(missing)}; found {', '.join(header[:30])}")
    frame = pd.DataFrame(body, columns=header, dtype=object)

    n = len(frame)
    bad = np.zeros(n, dtype=bool)
    issues: list[RecordIssue] = []
    out = frame.copy()
    for col in columns:
        if col.name not in frame.columns:
            continue
        parse = _PARSERS[col.kind]
        raw = frame[col.name].tolist()
        values: list[object] = [None] * n
        for i, v in enumerate(raw):
            try:
                values[i] = parse(v)
            except ValueError as exc:
                bad[i] = True
                issues.append(RecordIssue(Location(name, i + 1, col.name), shown_value(v, col.kind), str(exc)))
        if col.kind == "date":
            out[col.name] = pd.to_datetime(pd.Series(values, dtype=object), errors="coerce")
        elif col.kind == "flag":
            out[col.name] = pd.Series([bool(v) for v in values], dtype=bool)
        elif col.kind == "int":
            out[col.name] = pd.Series([v if v is not None else 0 for v in values], dtype="int64")
        else:
            out[col.name] = pd.Series([v if v is not None else "" for v in values], dtype=object)
    if unique is not None and unique in out.columns:
        kind: Kind = next((c.kind for c in columns if c.name == unique), "str")
        keys = out[unique].astype(str)
        repeated = keys.duplicated(keep=False).to_numpy() & ~bad & (keys != "").to_numpy()
        for row in np.nonzero(repeated)[0].tolist():
            bad[row] = True
            issues.append(RecordIssue(Location(name, row + 1, unique), shown_value(keys.iloc[row], kind),
                                      "appears in more than one row; one row per child"))
    issues.sort(key=lambda x: (x.location.row or 0, x.location.column or ""))
    if issues and on_invalid == "fail":
        shown = "\n  - ".join(str(i) for i in issues[:_SHOWN_ISSUES])
        more = f"\n  ... and {len(issues) - _SHOWN_ISSUES} more" if len(issues) > _SHOWN_ISSUES else ""
        raise InputFileError(f"{name}: {len(issues)} invalid value(s) in {int(bad.sum())} row(s)"
                             f"{' of dataset ' + dataset if dataset else ''}:\n  - {shown}{more}")
    kept = out.loc[~bad].reset_index(drop=True)
    return LoadedRecords(kept, issues, n_read=n, n_excluded=int(bad.sum()), path=str(path))
