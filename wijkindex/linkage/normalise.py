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


# --- names --------------------------------------------------------------------------------
# Dutch surnames carry a tussenvoegsel ("van der", "de", "in 't") that registers write in
# different ways ("van der Berg", "Berg, van der", "V.d. Berg", "vd Berg"); linkage compares
# the core surname and treats the tussenvoegsel as a weak, separate token.

TUSSENVOEGSELS = frozenset({
    "van", "de", "der", "den", "het", "t", "'t", "ten", "ter", "te", "in", "op", "aan", "bij", "uit",
    "over", "voor", "onder", "tot", "la", "le", "les", "du", "des", "da", "di", "dos", "del", "el", "al",
    "von", "zu", "vd", "v", "d",
})
_ABBREVIATED = {"vd": "van der", "v.d.": "van der", "v.": "van", "vd.": "van der"}
_SPECIAL = str.maketrans({"ß": "ss", "æ": "ae", "ø": "o", "œ": "oe", "ł": "l", "đ": "d", "ı": "i"})


_KEEP = {ord(c): c for c in "abcdefghijklmnopqrstuvwxyz -'."}
_FOLD_TABLE = {i: _KEEP.get(i, " ") for i in range(128)}
_FOLD_TABLE.update({ord("’"): "'", ord("`"): "'", ord("‐"): "-", ord("–"): "-"})


def fold(raw: object) -> str:
    """Lower case, diacritics dropped (Zoë -> zoe, Öztürk -> ozturk), only a-z, space, hyphen,
    apostrophe and dot; runs of spaces collapsed."""
    s = str(raw).lower()
    if not s.isascii():
        import unicodedata

        s = unicodedata.normalize("NFKD", s.translate(_SPECIAL))
        s = "".join(ch for ch in s if not unicodedata.combining(ch))
        s = "".join(ch if ch.isascii() or ch in "’`‐–" else " " for ch in s)
    return " ".join(s.translate(_FOLD_TABLE).split())


def normalise_given_name(raw: object) -> str:
    """'Zoë-Anne ' -> 'zoe anne': folded, hyphens and dots as spaces, one space between names."""
    return " ".join(fold(raw).replace("-", " ").replace(".", " ").replace("'", "").split())


def split_surname(raw: object) -> tuple[str, str]:
    """Split a Dutch surname into (tussenvoegsel, core surname), both folded.

    'van der Berg' and 'Berg, van der' -> ('van der', 'berg'); "in 't Veld" -> ("in t", 'veld');
    "d'Ancona" -> ('d', 'ancona'); 'Brink-Kuipers' -> ('', 'brink-kuipers'); a name that is only
    tussenvoegsel words ('Van') is kept as its own core.
    """
    s = fold(raw)
    if not any(ch in s for ch in " '.") and "," not in str(raw):
        return "", s  # one word, the common case: nothing to split
    if "," in str(raw):  # the register's sorting form "Berg, van der"
        head, _, tail = str(raw).partition(",")
        s = fold(tail + " " + head)
    for short, full in _ABBREVIATED.items():
        if s.startswith(short + " "):
            s = full + s[len(short):]
    s = s.replace(".", " ")
    if s.startswith("d'") and len(s) > 2:
        s = "d " + s[2:]
    words = [w.strip("'") for w in s.split()]
    words = [w for w in words if w]
    prefix: list[str] = []
    while len(words) > 1 and words[0] in TUSSENVOEGSELS:
        prefix.append(words.pop(0))
    core = "-".join(" ".join(words).replace(" - ", "-").split("-"))
    return " ".join(prefix), "".join(core.split())
