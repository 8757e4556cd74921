"""Realistic identifier errors for Dutch children's records, as holders without a BSN type them.

Used by the synthetic federation (GGD survey and school records without a BSN) and by the
linkage benchmark. Each corruption is one a Dutch register shows in practice: typos in
given names, the tussenvoegsel written another way or dropped, one half of a double
surname, diacritics lost, day and month swapped, a date in another format, a postcode
from before a move, given name and surname swapped, sex left empty.
"""

from __future__ import annotations

import random
import re
import string
from datetime import date

import pandas as pd

from wijkindex.linkage.normalise import split_surname

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")
IDENTIFIER_COLUMNS = ("voornaam", "achternaam", "geboortedatum", "geslacht", "postcode")
_ASCII = str.maketrans("ëïéèöüçşÖÜËÏ", "eieeoucsOUEI")


def typo(s: str, rng: random.Random) -> str:
    """One keyboard error: a letter dropped, doubled, replaced, or two neighbours swapped."""
    if len(s) < 3:
        return s
    i = rng.randrange(1, len(s) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return s[:i] + s[i + 1:]
    if kind == 1:
        return s[:i] + s[i] + s[i:]
    if kind == 2:
        return s[:i] + rng.choice(string.ascii_lowercase) + s[i + 1:]
    return s[:i - 1] + s[i] + s[i - 1] + s[i + 1:]


def surname_variant(s: str, rng: random.Random) -> str:
    """The same surname as another register writes it."""
    prefix, _ = split_surname(s)
    words = s.split()
    core = " ".join(words[len(prefix.split()):]) if prefix else s
    options = []
    if prefix:
        options += [f"{core}, {prefix}",                      # the BRP's sorting form
                    core,                                      # tussenvoegsel dropped
                    f"{prefix.title()} {core}",                # capitalised
                    f"{''.join(w[0] for w in prefix.split())}. {core}" if " " in prefix else f"{prefix} {core}"]
    if "-" in s:
        options += [s.split("-")[0], s.split("-")[1]]         # one half of a double name
    options += [typo(s, rng), s.translate(_ASCII), s.upper()]
    return rng.choice(options)


def date_variant(d: str, rng: random.Random) -> str:
    """The same ISO date swapped (day <-> month, when that is a date) or in another format."""
    y, m, dd = (int(x) for x in d.split("-"))
    kind = rng.randrange(3)
    if kind == 0 and dd <= 12 and dd != m:
        return date(y, dd, m).isoformat()
    if kind == 1:
        return f"{dd:02d}-{m:02d}-{y}"
    return f"{y}-{m:02d}-{min(28, dd + rng.choice((-1, 1))) or 1:02d}"  # a digit off


def postcode_variant(p: str, rng: random.Random) -> str:
    """A postcode from before a move (elsewhere in the same city), or typed without a space."""
    if rng.random() < 0.3:
        return p.replace(" ", "").lower()
    return f"{int(p[:4]) + rng.randint(-6, 6)} {rng.choice(string.ascii_uppercase[:20])}{rng.choice('ABCDEFGHJKLMNPRTVWXZ')}"


def corrupt(frame: pd.DataFrame, rng: random.Random, *, rate: float = 0.5) -> pd.DataFrame:
    """A copy of ``frame`` (columns IDENTIFIER_COLUMNS, dates ISO) in which each record has, with
    probability ``rate``, one to three errors of the kinds above."""
    out = frame.copy()
    for i in range(len(out)):
        if rng.random() >= rate:
            continue
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
            kind = rng.randrange(7)
            row = out.index[i]
            if kind == 0:
                out.at[row, "voornaam"] = typo(str(out.at[row, "voornaam"]), rng)
            elif kind == 1:
                out.at[row, "achternaam"] = surname_variant(str(out.at[row, "achternaam"]), rng)
            elif kind == 2:
                out.at[row, "voornaam"] = str(out.at[row, "voornaam"]).translate(_ASCII)
            elif kind == 3 and _ISO.match(str(out.at[row, "geboortedatum"])):
                out.at[row, "geboortedatum"] = date_variant(str(out.at[row, "geboortedatum"]), rng)
            elif kind == 4:
                out.at[row, "postcode"] = postcode_variant(str(out.at[row, "postcode"]), rng)
            elif kind == 5 and rng.random() < 0.3:
                out.at[row, "voornaam"], out.at[row, "achternaam"] = out.at[row, "achternaam"], out.at[row, "voornaam"]
            elif kind == 6:
                out.at[row, "geslacht"] = ""
    return out
