"""Reading a holder's CSV export with validation that names file, row and column.

Row numbers are 1-based data rows (the header is row 0), so row 17 is the 17th record
and line 18 of the file, as a spreadsheet shows it less its header. Values are
normalised by kind; bad ones either fail the load (listing the first issues) or are
excluded and counted, as the node's ``on_invalid`` says.

Every :class:`InputFileError` raised here carries two texts (see :mod:`wijkindex.errors`):
``str(exc)`` for the node's own log, which may show a masked BSN or up to 20 characters of a
value, and ``exc.public_message()``, the only one a node may send, which names the file
(basename), the declared columns, rows and counts, and a fixed reason per issue, but never a
value or a header cell the file wrote.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from wijkindex.errors import InputFileError, Location
from wijkindex.linkage.bsn import normalise_bsn
from wijkindex.linkage.normalise import normalise_postcode, parse_date, parse_flag
from wijkindex.linkage.tables import MAX_FIELD, ExportLayout, read_table

Kind = Literal["bsn", "date", "flag", "str", "code", "postcode", "int", "number"]
_SHOWN_ISSUES = 10


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: Kind
    required: bool = True
    empty_ok: bool = False  # an empty cell is no value (an open end date), not an invalid one


@dataclass(frozen=True)
class RecordIssue:
    location: Location
    value: str
    reason: str

    def __str__(self) -> str:
        return f"{self.location}: {self.reason} (value {self.value})"

    @property
    def public_reason(self) -> str:
        """The reason without any value: one of the parsers' fixed phrases, or 'invalid value'."""
        return _public_reason(self.reason)


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


# the parsers' reasons that quote no value (parse_date's quote the value after the phrase);
# a reason is shown publicly only as the phrase it starts with, anything else as "invalid value"
_PUBLIC_REASONS = (
    "not 9 digits", "fails the 11-proef", "impossible date", "unknown date format", "not a 0/1 flag",
    "not a Dutch postcode", "not an integer", f"longer than {MAX_FIELD} characters",
    "appears in more than one row", "address not in the area lookup table", "not in the declared date format",
    "not a number with decimal", "not a declared code",
)


def _public_reason(reason: str) -> str:
    for phrase in _PUBLIC_REASONS:
        if reason == phrase or reason.startswith((phrase + " ", phrase + ";", phrase + "(", phrase + ":")):
            return phrase
    return "invalid value"


def _rows(rows: Sequence[int], limit: int = _SHOWN_ISSUES) -> str:
    shown = ", ".join(map(str, rows[:limit]))
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def _public_issues(file: str, issues: Sequence[RecordIssue], n_rows: int, dataset: str) -> str:
    """'export.csv: 3 invalid value(s) in 2 row(s)' and per column its count, rows and reasons."""
    by_column: dict[str, tuple[list[int], list[str]]] = {}
    for issue in issues:
        rows, reasons = by_column.setdefault(str(issue.location.column), ([], []))
        if issue.location.row is not None and issue.location.row not in rows:
            rows.append(issue.location.row)
        if issue.public_reason not in reasons:
            reasons.append(issue.public_reason)
    lines = [f"{file}: {len(issues)} invalid value(s) in {n_rows} row(s)"
             f"{' of dataset ' + dataset if dataset else ''}"]
    for column, (rows, reasons) in by_column.items():
        lines.append(f"column {column!r}: {len(rows)} invalid value(s) ({_rows(sorted(rows))}): {'; '.join(reasons)}")
    return "\n  - ".join(lines)


_PARSERS: dict[str, Callable[[str], object]] = {
    "bsn": normalise_bsn, "date": parse_date, "flag": parse_flag, "postcode": normalise_postcode,
    "int": _int, "str": _text, "code": _text,
}


@dataclass(frozen=True)
class CodeList:
    """The known values of a code column (compared without case) and where the config lists them."""

    known: frozenset[str]
    where: str  # e.g. "indicators[2].values or .others (datasets.toml line 31)"


def _parser(col: ColumnSpec, layout: ExportLayout, code_list: CodeList | None) -> Callable[[str], object]:
    """The parser of one column: its kind's, with the layout's date format and decimal separator."""
    if col.kind == "date" and col.name in layout.date_formats:
        fmt = layout.date_formats[col.name]

        def dated(v: str) -> date:
            try:
                return datetime.strptime(v.strip(), fmt).date()
            except ValueError:
                raise ValueError(f"not in the declared date format {fmt} ([datasets.dates] {col.name})") from None
        return dated
    if col.kind == "number":
        def number(v: str) -> float:
            text = v.strip().replace(" ", "")
            if layout.decimal == ",":
                text = text.replace(".", "").replace(",", ".")  # 1.234,5 -> 1234.5
            try:
                x = float(text)
            except ValueError:
                raise ValueError(f"not a number with decimal {layout.decimal!r} (decimal in [datasets.read])") from None
            if not math.isfinite(x):
                raise ValueError(f"not a number with decimal {layout.decimal!r} (decimal in [datasets.read])")
            return x
        return number
    if code_list is not None:
        def coded(v: str) -> str:
            text = _text(v)
            if text and text.lower() not in code_list.known:
                raise ValueError(f"not a declared code: add it to {code_list.where}")
            return text
        return coded
    return _PARSERS[col.kind]


def load_records(path: Path | str, columns: Sequence[ColumnSpec], *,
                 on_invalid: Literal["fail", "exclude"] = "fail", dataset: str = "",
                 unique: str | None = None,
                 derive: Callable[[pd.DataFrame, str], tuple[pd.DataFrame, list[RecordIssue]]] | None = None,
                 layout: ExportLayout = ExportLayout(), codes: Mapping[str, CodeList] | None = None,
                 ) -> LoadedRecords:
    """Read and validate one export (CSV, Parquet or Excel, laid out as ``layout`` says: linkage/tables.py).

    ``codes`` gives a code column's known values (``CodeList``): any other value is an issue that
    says which list of the config to add it to.

    ``unique`` names a column whose values must not repeat (the spine's BSN: one row per child);
    every row of a repeated value is an issue, since which of them is right cannot be told.
    ``derive(frame, file)`` adds columns from the parsed values (the spine's areas from its
    addresses) and returns the issues of rows it cannot derive, handled like any invalid value."""
    path = Path(path)
    table = read_table(path, layout)
    name, base = table.label, table.public_label
    header, body = table.header, table.rows
    # a header cell may be a child's value (an export without a header row): the public texts
    # name only the columns the node's config declares, and count the rest
    declared = [c.name for c in columns]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        named = [d for d in dupes if d in declared]
        others = len(dupes) - len(named)
        public = ", ".join(named) + (f"{' and ' if named else ''}{others} other column name(s)" if others else "")
        raise InputFileError(f"{name}: column(s) {', '.join(dupes)} appear twice in the header",
                             public=f"{base}: column(s) {public} appear twice in the header")
    missing = [c.name for c in columns if c.required and c.name not in header]
    if missing:
        found = [c for c in declared if c in header]
        raise InputFileError(f"{name}: missing column(s) {', '.join(missing)}; found {', '.join(header[:30])}; "
                             "if the export names them differently, map its names in [datasets.rename]",
                             public=f"{base}: missing column(s) {', '.join(missing)}; the header has "
                                    f"{len(header)} column(s)"
                                    + (f", of the declared ones {', '.join(found)}" if found else ""))
    frame = pd.DataFrame(body, columns=header, dtype=object)
    typed = table.typed
    del table, body  # the text rows: the frame holds them now
    frame = frame[[h for h in header if h in declared]]  # a column the config does not declare is never kept

    n = len(frame)
    bad = np.zeros(n, dtype=bool)
    issues: list[RecordIssue] = []
    out = pd.DataFrame(index=frame.index)  # the parsed columns, built one by one beside the text ones
    for col in columns:
        if col.name not in frame.columns:
            continue
        parse = _parser(col, layout, (codes or {}).get(col.name))
        raw = frame.pop(col.name).tolist()  # its text is not kept once parsed
        if col.kind == "bsn" and typed:  # a BSN typed as a number in a spreadsheet: 000000012 became 12
            raw = [v.zfill(9) if v.isdigit() and len(v) < 9 else v for v in raw]
        values: list[object] = [None] * n
        for i, v in enumerate(raw):
            if col.empty_ok and not str(v).strip():
                continue
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
        elif col.kind == "number":
            out[col.name] = pd.Series([v if v is not None else math.nan for v in values], dtype="float64")
        else:
            out[col.name] = pd.Series([v if v is not None else "" for v in values], dtype=object)
    if derive is not None:
        out, derived = derive(out, name)
        for issue in derived:
            i = (issue.location.row or 0) - 1
            if 0 <= i < n and not bad[i]:  # a row already invalid keeps its first reason
                bad[i] = True
                issues.append(issue)
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
                             f"{' of dataset ' + dataset if dataset else ''}:\n  - {shown}{more}",
                             public=_public_issues(base, issues, int(bad.sum()), dataset),
                             fix="correct the named rows, or the datasets.toml line named beside a code or date; "
                                 "or set on_invalid = \"exclude\" in the node config to leave such rows out "
                                 "(counted in the node's report)")
    kept = out.loc[~bad].reset_index(drop=True)
    return LoadedRecords(kept, issues, n_read=n, n_excluded=int(bad.sum()), path=str(path))
