"""A holder's export as a table of text cells: CSV, Parquet or Excel, laid out as its config says.

A holder exports from its own system: a BRP extract in Windows-1252 with ``;`` and a title line
above the header, a school's pupil list as an Excel sheet, a JGZ extract as Parquet. The
dataset's ``[datasets.read]`` table says how the file is laid out (``ExportLayout``); this
module turns any of them into the same header and rows of text, so one validation
(linkage/records.py) reads them all. A spreadsheet's numbers and dates come back as the text a
CSV export would hold (``123456782``, not ``123456782.0``; dates as YYYY-MM-DD).

Every error names the file (and sheet), and says what the config should declare instead; the
public text (the one a node may send) names no value and no header cell.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Mapping

from wijkindex.errors import InputFileError

FORMATS = ("csv", "parquet", "xlsx")
ENCODINGS = ("utf-8", "utf-8-sig", "windows-1252")
DELIMITERS = (",", ";", "\t", "|")
DECIMALS = (".", ",")
MAX_FIELD = 10_000
_SUFFIXES = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet", ".xlsx": "xlsx", ".xlsm": "xlsx"}


@dataclass(frozen=True)
class ExportLayout:
    """How an export is laid out and how its columns map to the federation's.

    ``rename`` maps the holder's column names to the federation's (the names the dataset's
    ``columns`` declare); ``date_formats`` gives a date column's format (``%d-%m-%Y``) where it is
    not ISO; ``decimal`` is the decimal separator of ``number`` columns; ``header_row`` the
    1-based line (or sheet row) that holds the column names, lines above it are skipped."""

    format: str | None = None  # None: from the file's suffix
    delimiter: str | None = None  # None: ";" or "," whichever the header line has more of
    encoding: str = "utf-8"  # a UTF-8 byte-order mark is skipped either way
    header_row: int = 1
    sheet: str | None = None  # xlsx: the sheet to read (default: the first)
    decimal: str = "."
    rename: Mapping[str, str] = field(default_factory=dict)
    date_formats: Mapping[str, str] = field(default_factory=dict)

    def format_of(self, path: Path) -> str:
        return self.format or _SUFFIXES.get(path.suffix.lower(), "csv")

    def federation_name(self, column: str) -> str:
        return self.rename.get(column, column)


@dataclass
class RawTable:
    """The header (federation names, after ``rename``) and the data rows as text."""

    header: list[str]
    rows: list[list[str]]
    label: str  # "folder/file" or "folder/file, sheet 'X'": where a row's issues are
    public_label: str  # the same without the folder
    typed: bool = False  # cells held numbers and dates (Excel, Parquet), not text: a number lost its leading zeros


def read_table(path: Path | str, layout: ExportLayout = ExportLayout()) -> RawTable:
    """The export at ``path`` as text cells, in the layout its config declares."""
    path = Path(path)
    kind = layout.format_of(path)
    if kind == "parquet":
        header, rows = _parquet(path)
        label, public = f"{path.parent.name}/{path.name}", path.name
    elif kind == "xlsx":
        header, rows, sheet = _xlsx(path, layout)
        label, public = f"{path.parent.name}/{path.name}, sheet {sheet!r}", f"{path.name}, sheet {sheet!r}"
    else:
        header, rows = _csv(path, layout)
        label, public = f"{path.parent.name}/{path.name}", path.name
    header = [layout.federation_name(h.strip()) for h in header]
    return RawTable(header, rows, label, public, typed=kind != "csv")


def _fail(path: Path, why: str, public: str | None = None) -> InputFileError:
    return InputFileError(f"{path}: {why}", public=f"{path.name}: {public or why}")


def _raw_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise _fail(path, "file not found") from None
    except OSError as exc:
        raise _fail(path, f"cannot be read: {exc.strerror}", f"cannot be read ({exc.strerror})") from None


def _decode(path: Path, data: bytes, encoding: str) -> str:
    if encoding in ("utf-8", "utf-8-sig"):
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise _fail(path, f"not UTF-8 at byte {exc.start} (line {line}); export the file as UTF-8 or declare "
                              "its encoding in [datasets.read], e.g. encoding = \"windows-1252\"") from None
    text = data.decode("cp1252", errors="replace")  # 5 unassigned bytes: shown as U+FFFD, never fatal
    return text[1:] if text.startswith("\ufeff") else text


def _csv(path: Path, layout: ExportLayout) -> tuple[list[str], list[list[str]]]:
    text = _decode(path, _raw_bytes(path), layout.encoding)
    if not text.strip():
        raise _fail(path, "the file is empty")
    lines = text.splitlines(keepends=True)
    if layout.header_row > len(lines):
        raise _fail(path, f"header_row = {layout.header_row}, but the file has {len(lines)} line(s)")
    body_text = "".join(lines[layout.header_row - 1:])
    first = lines[layout.header_row - 1]
    delimiter = layout.delimiter or (";" if first.count(";") > first.count(",") else ",")
    csv.field_size_limit(MAX_FIELD * 10)
    reader = csv.reader(io.StringIO(body_text, newline=""), delimiter=delimiter)
    try:
        rows = list(reader)
    except csv.Error as exc:  # csv's reasons quote no field, but the public text keeps to the line
        raise _fail(path, f"not a valid CSV table: {exc}",
                    f"not a valid CSV table (near line {reader.line_num + layout.header_row - 1})") from None
    if not rows:
        raise _fail(path, "the file is empty")
    header, body = rows[0], [r for r in rows[1:] if r]  # blank lines carry no record
    ragged = [i + 1 for i, r in enumerate(rows[1:]) if r and len(r) != len(header)]
    if ragged:
        why = (f"not a valid CSV table: row(s) {', '.join(map(str, ragged[:10]))} have a different number of "
               f"fields than the header ({len(header)})")
        if len(header) == 1 and layout.delimiter is None:
            why += "; if the file uses another delimiter, declare it in [datasets.read], e.g. delimiter = \"\\t\""
        raise _fail(path, why)
    return header, body


def _cell(value: object) -> str:
    """A spreadsheet or Parquet value as the text a CSV export holds."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))  # 123456782.0 (a BSN typed as a number) -> 123456782
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _xlsx(path: Path, layout: ExportLayout) -> tuple[list[str], list[list[str]], str]:
    from python_calamine import CalamineWorkbook

    _raw_bytes(path)  # the same "not found" / "cannot be read" as any file
    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # noqa: BLE001 - calamine raises its own types for a damaged file
        raise _fail(path, f"not a readable Excel workbook ({type(exc).__name__})") from None
    names = list(book.sheet_names)
    sheet = layout.sheet or (names[0] if names else "")
    if sheet not in names:
        shown = ", ".join(repr(n) for n in names[:10])
        raise _fail(path, f"no sheet {sheet!r}; the workbook has {shown}; set sheet in [datasets.read] to one of them",
                    f"no sheet {sheet!r} (the workbook has {len(names)} sheet(s)); set sheet in [datasets.read]")
    grid = book.get_sheet_by_name(sheet).to_python()
    if len(grid) < layout.header_row:
        raise _fail(path, f"sheet {sheet!r} has {len(grid)} row(s), fewer than header_row = {layout.header_row}")
    header = [_cell(v) for v in grid[layout.header_row - 1]]
    while header and not header[-1]:
        header.pop()
    body = []
    for row in grid[layout.header_row:]:
        cells = [_cell(v) for v in row[:len(header)]]
        cells += [""] * (len(header) - len(cells))
        if any(c.strip() for c in cells):  # an empty sheet row carries no record
            body.append(cells)
    return header, body, sheet


def _parquet(path: Path) -> tuple[list[str], list[list[str]]]:
    import pyarrow.parquet as pq

    _raw_bytes(path)
    try:
        table = pq.read_table(str(path))
    except Exception as exc:  # noqa: BLE001 - pyarrow's errors for a damaged file vary by version
        raise _fail(path, f"not a readable Parquet file ({type(exc).__name__})") from None
    columns = [[_cell(v) for v in col.to_pylist()] for col in table.columns]
    return list(table.column_names), [list(r) for r in zip(*columns)] if columns else []


def check_layout(raw: Mapping[str, object]) -> tuple[dict[str, object], list[tuple[str, str]]]:
    """A ``[datasets.read]`` table's settings and its problems (key, why) for the config checker."""
    problems: list[tuple[str, str]] = []
    out: dict[str, object] = {}
    allowed = {"format": FORMATS, "encoding": ENCODINGS, "delimiter": DELIMITERS, "decimal": DECIMALS}
    for key, value in raw.items():
        if key in allowed:
            if value not in allowed[key]:
                problems.append((key, f"one of {', '.join(repr(v) for v in allowed[key])}, got {value!r}"))
            else:
                out[key] = value
        elif key == "header_row":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append((key, f"the 1-based line that holds the column names, got {value!r}"))
            else:
                out[key] = value
        elif key == "sheet":
            if not isinstance(value, str) or not value:
                problems.append((key, f"the name of the Excel sheet to read, got {value!r}"))
            else:
                out[key] = value
        else:
            problems.append((key, "unknown setting; [datasets.read] takes format, encoding, delimiter, decimal, "
                                  "header_row and sheet"))
    return out, problems
