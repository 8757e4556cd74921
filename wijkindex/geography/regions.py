"""Regions of several gemeenten: the GGD regions, the jeugdzorgregio's, and a user's own.

The shipped regions (``wijkindex/data/nl-2024/regions_2024.csv``, built by
``scripts/build_nl2024.py``) are CBS "Gebieden in Nederland 2016" (83287NED): the 2016
membership of 390 gemeenten carried over to the 342 gemeenten of 2024. Mergers up to 2017
follow CBS's merger table, those of 2018-2022 a table of the herindelingen, and a 2022
gemeente reaches its 2024 gemeente by the largest overlap of their polygons. Where a 2024
gemeente's predecessors were in different regions it is in the region of most of their
inhabitants; the ``notes`` column says so (Amsterdam with Weesp, Haarlemmermeer,
Vijfheerenlanden). Regions reorganised after 2016 are not followed.

``regions("ggd")`` lists the 25 GGD regions, ``region_of("GM0193", "ggd")`` gives Zwolle's
(GGD IJsselland), ``load_region("GG1009")`` or ``load_region("GGD IJsselland")`` one region,
and ``load_regions_toml(path)`` a user's own regions::

    [[region]]
    code = "R001"
    name = "Noordoost-Overijssel"
    gemeenten = ["GM0193", "Kampen", "0166"]
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import pandas as pd

from wijkindex.errors import ConfigError
from wijkindex.geography.cbs import DATA_DIR, _kwb, resolve

Kind = Literal["ggd", "jeugdzorgregio", "user"]
KINDS: tuple[str, ...] = ("ggd", "jeugdzorgregio")
REGION_SOURCE = ("CBS Gebieden in Nederland 2016 (83287NED), indeling 2016 overgezet op de gemeenten van 2024 "
                 "(Bron: CBS, Kadaster; CC BY 4.0)")
KIND_LABELS = {"ggd": ("GGD-regio", "GGD region"), "jeugdzorgregio": ("jeugdzorgregio", "youth-care region"),
               "user": ("eigen regio", "user region")}


@dataclass(frozen=True)
class Region:
    """A region of several gemeenten: ``code`` (GG…, JZ… or the user's own), ``gemeenten``
    as 2024 GM codes (sorted), ``source`` where the membership comes from."""

    code: str
    name: str
    kind: str
    gemeenten: tuple[str, ...]
    source: str

    def __contains__(self, gemeente_code: object) -> bool:
        return gemeente_code in self.gemeenten


@lru_cache(maxsize=1)
def membership() -> pd.DataFrame:
    """The shipped table: one row per 2024 gemeente with its GGD region, jeugdzorgregio and notes."""
    try:
        return pd.read_csv(DATA_DIR / "regions_2024.csv", dtype=str, keep_default_na=False).set_index("gemeentecode")
    except FileNotFoundError as exc:
        raise ConfigError(f"{exc.filename}: the shipped region table is missing",
                          fix="reinstall wijkindex (the nl-2024 package data is part of it)") from None


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ConfigError(f"region kind {kind!r} is not one of {', '.join(KINDS)}",
                          fix="ask for 'ggd' or 'jeugdzorgregio' (a user's regions come from load_regions_toml)")
    return kind


@lru_cache(maxsize=2)
def _regions(kind: str) -> tuple[Region, ...]:
    m = membership()
    out = []
    for code, group in m.groupby(f"{kind}_code"):
        out.append(Region(str(code), str(group[f"{kind}_naam"].iloc[0]), kind, tuple(sorted(group.index)),
                          REGION_SOURCE))
    return tuple(sorted(out, key=lambda r: r.code))


def regions(kind: str) -> tuple[Region, ...]:
    """Every shipped region of a kind ("ggd": 25, "jeugdzorgregio": 42), by code."""
    return _regions(_check_kind(kind))


def region_of(gemeente_code: str, kind: str) -> Region:
    """The shipped region of this kind that the gemeente (code or name) belongs to."""
    code = resolve(gemeente_code)
    wanted = membership().loc[code, f"{_check_kind(kind)}_code"]
    return next(r for r in _regions(kind) if r.code == wanted)


def load_region(code_or_name: str) -> Region:
    """A shipped region by code ("GG1009", "JZ07") or name ("GGD IJsselland", "IJsselland", any case);
    an unknown one gets the closest names as suggestions."""
    text = str(code_or_name).strip()
    everything = [r for k in KINDS for r in _regions(k)]
    for r in everything:
        if r.code.upper() == text.upper():
            return r
    by_name: dict[str, list[Region]] = {}
    for r in everything:
        by_name.setdefault(r.name.lower(), []).append(r)
    hits = by_name.get(text.lower(), [])
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:  # a GGD region and a jeugdzorgregio of one name
        raise ConfigError(f"{code_or_name!r} names {len(hits)} regions: "
                          + ", ".join(f"{r.code} ({KIND_LABELS[r.kind][1]})" for r in hits),
                          fix="name the region by its code")
    close = difflib.get_close_matches(text.lower(), list(by_name), n=5, cutoff=0.6)
    hint = ("; did you mean " + ", ".join(f"{r.name} ({r.code})" for c in close for r in by_name[c]) + "?"
            ) if close else ""
    raise ConfigError(f"region {code_or_name!r} is not one of the {len(everything)} GGD regions and "
                      f"jeugdzorgregio's{hint}",
                      fix="name a region by its CBS code (GG1009, JZ07) or its name (GGD IJsselland)")


def _gemeente_in_file(entry: object, path: Path, region: str) -> str:
    """A GM code for a gemeente as a region file names it, or an error naming the file and close matches."""
    try:
        return resolve(str(entry))
    except ConfigError:
        names = list(_kwb()["gemeentenaam"])
        close = difflib.get_close_matches(str(entry), names, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"{path}: region {region}: gemeente {entry!r} is not one of the 342 gemeenten of 2024"
                          f"{hint}", fix="name each gemeente by its CBS code (GM0193 or 0193) or its 2024 name"
                          ) from None


def load_regions_toml(path: Path | str) -> tuple[Region, ...]:
    """A user's own regions from a TOML file of ``[[region]]`` tables (code, name, gemeenten).
    Each gemeente may be given by code or name; a gemeente may be in only one region of a file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such region file", fix="give the path of a TOML file of [[region]] tables"
                          ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})", fix="check the file's syntax") from None
    tables = data.get("region")
    if not isinstance(tables, list) or not tables:
        raise ConfigError(f"{path}: no regions; the file needs one or more [[region]] tables",
                          fix='add [[region]] code = "R001" name = "..." gemeenten = ["GM0193", "Kampen"]')
    out: list[Region] = []
    seen_codes: set[str] = set()
    owner: dict[str, str] = {}
    for i, t in enumerate(tables, 1):
        if not isinstance(t, dict):
            raise ConfigError(f"{path}: region {i} is not a table", fix="write each region as a [[region]] table")
        code, name = str(t.get("code", "")).strip(), str(t.get("name", "")).strip()
        label = code or f"number {i}"
        if not code or not name:
            raise ConfigError(f"{path}: region {label} needs both a code and a name",
                              fix='give each [[region]] code = "R001" and name = "..."')
        if code in seen_codes:
            raise ConfigError(f"{path}: region code {code} occurs twice", fix="give each region its own code")
        seen_codes.add(code)
        entries = t.get("gemeenten")
        if not isinstance(entries, list) or not entries:
            raise ConfigError(f"{path}: region {code} has no gemeenten",
                              fix='list them: gemeenten = ["GM0193", "Kampen"]')
        members: set[str] = set()
        for entry in entries:
            gm = _gemeente_in_file(entry, path, code)
            if gm in owner and owner[gm] != code:
                raise ConfigError(f"{path}: gemeente {gm} ({_kwb().loc[gm, 'gemeentenaam']}) is in both region "
                                  f"{owner[gm]} and region {code}", fix="put each gemeente in one region of the file")
            owner[gm] = code
            members.add(gm)
        out.append(Region(code, name, "user", tuple(sorted(members)), f"{path.name} (eigen indeling)"))
    return tuple(out)
