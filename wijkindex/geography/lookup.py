"""The spine's wijk and buurt from postcode and house number, by a table the gemeente provides.

A spine dataset either carries ``wijk_code``/``buurt_code`` itself or names a lookup table
(``area_lookup = "postcode_huisnummer.csv"`` in its ``datasets.toml``) with the columns

    postcode, huisnummer, buurt_code, wijk_code

A row with a house number covers that one address; a row with an empty ``huisnummer`` covers
every number of its postcode not listed on a row of its own. Postcodes are compared
normalised ("1234 ab" = "1234AB"); a house number is compared by its digits ("12-A", "12a"
and "12" are number 12: CBS areas do not split a number by its addition). A child whose
address is in neither form of the table is an invalid spine row (the node's ``on_invalid``
says whether the round fails or the child is left out and counted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import pandas as pd

from wijkindex.errors import InputFileError, Location
from wijkindex.linkage.normalise import normalise_postcode
from wijkindex.linkage.records import RecordIssue, shown_value

COLUMNS = ("postcode", "huisnummer", "buurt_code", "wijk_code")
AREA_COLUMNS = ("buurt_code", "wijk_code")
NOT_FOUND = "address not in the area lookup table"  # a fixed phrase: the public reason (no value)
_NUMBER = re.compile(r"^\s*(\d{1,6})")
# the gemeente's 4 digits, then the wijk's 2 (and the buurt's 2 more): digits, or letters in Amsterdam
_BUURT, _WIJK = re.compile(r"^BU\d{4}[0-9A-Z]{4}$"), re.compile(r"^WK\d{4}[0-9A-Z]{2}$")


def house_number(raw: object) -> int | None:
    """12, "12", "12a", "12-A 2hg" -> 12; "" or no leading digits -> None."""
    m = _NUMBER.match(str(raw if raw is not None else ""))
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class AreaLookup:
    path: Path
    exact: pd.DataFrame  # postcode, huisnummer (int), buurt_code, wijk_code: one row per address
    whole: pd.DataFrame  # postcode, buurt_code, wijk_code: one row per postcode without a number

    def __len__(self) -> int:
        return len(self.exact) + len(self.whole)


def load_area_lookup(path: Path | str) -> AreaLookup:
    """Read and check a lookup table (``,`` or ``;``, UTF-8); every problem names file and row."""
    p = Path(path).resolve()
    try:
        stamp = p.stat().st_mtime_ns
    except FileNotFoundError:
        raise InputFileError(f"{p}: the area lookup table is missing",
                             public=f"{p.name}: the area lookup table is missing") from None
    return _load(p, stamp)


@lru_cache(maxsize=4)
def _load(path: Path, _stamp: int) -> AreaLookup:
    name = path.name
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, sep=None, engine="python", encoding="utf-8-sig")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputFileError(f"{path}: not a readable CSV table ({exc.__class__.__name__}); export it as UTF-8 "
                             f"with the columns {', '.join(COLUMNS)}", public=f"{name}: not a readable CSV table") from None
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    missing = [c for c in COLUMNS if c not in raw.columns and c != "huisnummer"]
    if missing:
        raise InputFileError(f"{path}: missing column(s) {', '.join(missing)}; an area lookup table has the "
                             f"columns {', '.join(COLUMNS)} (huisnummer may be empty or absent)",
                             public=f"{name}: missing column(s) {', '.join(missing)}")
    if "huisnummer" not in raw.columns:
        raw["huisnummer"] = ""
    problems: list[str] = []
    postcodes, numbers = [], []
    for row, (pc, nr, bu, wk) in enumerate(raw[list(COLUMNS)].itertuples(index=False, name=None), start=1):
        try:
            postcodes.append(normalise_postcode(pc))
        except ValueError:
            postcodes.append("")
            problems.append(f"{Location(name, row, 'postcode')}: not a Dutch postcode (1234 AB), got {pc[:20]!r}")
        n = house_number(nr)
        if str(nr).strip() and n is None:
            problems.append(f"{Location(name, row, 'huisnummer')}: not a house number, got {nr[:20]!r}")
        numbers.append(n)
        bu, wk = bu.strip().upper(), wk.strip().upper()
        if not _WIJK.match(wk):
            problems.append(f"{Location(name, row, 'wijk_code')}: not a CBS wijk code (WK + 6 digits or letters), "
                            f"got {wk[:20]!r}")
        if not _BUURT.match(bu):
            problems.append(f"{Location(name, row, 'buurt_code')}: not a CBS buurt code (BU + 8 digits or letters), "
                            f"got {bu[:20]!r}")
        elif _WIJK.match(wk) and bu[2:8] != wk[2:8]:
            problems.append(f"{Location(name, row, 'buurt_code')}: buurt {bu} does not lie in wijk {wk}")
    table = pd.DataFrame({"postcode": postcodes, "huisnummer": pd.array(numbers, dtype="Int64"),
                          "buurt_code": raw["buurt_code"].str.strip().str.upper(),
                          "wijk_code": raw["wijk_code"].str.strip().str.upper()})
    table["_row"] = range(1, len(table) + 1)
    key = table["postcode"] + "/" + table["huisnummer"].astype(str)
    for _, g in table[key.duplicated(keep=False)].groupby(key[key.duplicated(keep=False)]):
        if g["buurt_code"].nunique() > 1:
            rows = ", ".join(map(str, g["_row"].tolist()[:10]))
            problems.append(f"{name} rows {rows}: the same address ({g['postcode'].iloc[0]} "
                            f"{g['huisnummer'].iloc[0] if pd.notna(g['huisnummer'].iloc[0]) else '(whole postcode)'})"
                            f" in different buurten {', '.join(sorted(g['buurt_code'].unique()))}")
    if problems:
        shown = "\n  - ".join(problems[:10]) + (f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise InputFileError(f"{path}: {len(problems)} problem(s) in the area lookup table:\n  - {shown}",
                             public=f"{name}: {len(problems)} problem(s) in the area lookup table")
    table = table.drop(columns="_row").drop_duplicates()
    exact = table[table["huisnummer"].notna()].reset_index(drop=True)
    whole = table[table["huisnummer"].isna()].drop(columns="huisnummer").reset_index(drop=True)
    return AreaLookup(path, exact, whole)


def derive_areas(frame: pd.DataFrame, lookup: AreaLookup, *, postcode: str = "postcode",
                 number: str = "huisnummer") -> tuple[pd.DataFrame, list[int]]:
    """``frame`` with ``buurt_code`` and ``wijk_code`` from the table (its own, if any, replaced),
    and the 0-based positions of the rows whose address the table does not cover ("" codes)."""
    pcs = []
    for v in frame[postcode].astype(str):
        try:
            pcs.append(normalise_postcode(v))
        except ValueError:
            pcs.append("")
    keys = pd.DataFrame({"postcode": pcs, "huisnummer": pd.array([house_number(v) for v in frame[number]],
                                                                  dtype="Int64")})
    keys["_pos"] = range(len(keys))
    hit = keys.merge(lookup.exact, on=["postcode", "huisnummer"], how="left")
    rest = hit["buurt_code"].isna()
    if rest.any():
        by_pc = keys.loc[rest.to_numpy(), ["postcode", "_pos"]].merge(lookup.whole, on="postcode", how="left")
        hit = pd.concat([hit.loc[~rest], by_pc], ignore_index=True)
    hit = hit.sort_values("_pos").set_index("_pos")
    out = frame.drop(columns=[c for c in AREA_COLUMNS if c in frame.columns]).copy()
    for c in AREA_COLUMNS:
        out[c] = hit[c].fillna("").to_numpy(dtype=object)
    missing = [int(i) for i in hit.index[hit["wijk_code"].isna()]]
    return out, missing


def area_deriver(lookup: AreaLookup, *, postcode: str = "postcode", number: str = "huisnummer",
                 ) -> Callable[[pd.DataFrame, str], tuple[pd.DataFrame, list[RecordIssue]]]:
    """The ``derive`` hook of :func:`wijkindex.linkage.records.load_records` for a spine with
    an area lookup: each row not covered by the table is an issue naming file, row, postcode,
    house number and the table to fix."""
    table = lookup.path.name

    def derive(frame: pd.DataFrame, file: str) -> tuple[pd.DataFrame, list[RecordIssue]]:
        out, missing = derive_areas(frame, lookup, postcode=postcode, number=number)
        issues = []
        for i in missing:
            pc, nr = str(frame[postcode].iloc[i]), str(frame[number].iloc[i]).strip()
            issues.append(RecordIssue(
                Location(file, i + 1, postcode), shown_value(pc, "postcode"),
                f"{NOT_FOUND} {table} (postcode {pc[:8]}, huisnummer {nr[:8] or 'empty'}); add the address to "
                f"{table} (or its postcode with an empty huisnummer), or correct the child's address"))
        return out, issues
    return derive
