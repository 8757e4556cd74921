"""Normalisers for the identifiers Dutch holders export: dates, postcodes, 0/1 flags."""

from __future__ import annotations

import re
from datetime import date

_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DMY = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_POSTCODE = re.compile(r"^([1-9]\d{3})\s*([A-Z]{2})$")
_TRUE = {"1", "true", "ja", "j", "yes", "y", "waar"}
_FALSE = {"0", "false", "nee", "n", "no", "onwaar", ""}


def parse_date(raw: str) -> date:
    """YYYY-MM-DD, DD-MM-YYYY, DD/MM/YYYY, D-M-YYYY or YYYYMMDD; ValueError on anything else."""
    s = str(raw).strip()
    for pattern, order in ((_ISO, "ymd"), (_DMY, "dmy"), (_COMPACT, "ymd")):
        m = pattern.match(s)
        if m:
            parts = dict(zip(order, (int(g) for g in m.groups())))
            try:
                return date(parts["y"], parts["m"], parts["d"])
            except ValueError:
                raise ValueError(f"impossible date {s!r}") from None
    raise ValueError(f"unknown date format {s[:20]!r} (use YYYY-MM-DD)")


def normalise_postcode(raw: str) -> str:
    """'1234 ab' -> '1234AB'; the letters SA, SD and SS are not issued."""
    s = str(raw).strip().upper()
    m = _POSTCODE.match(s)
    if not m or m.group(2) in ("SA", "SD", "SS"):
        raise ValueError("not a Dutch postcode (1234 AB)")
    return m.group(1) + m.group(2)


def parse_flag(raw: object) -> bool:
    """1/0, true/false, ja/nee, j/n, yes/no (any case); an empty value is false."""
    s = str(raw).strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise ValueError("not a 0/1 flag")
