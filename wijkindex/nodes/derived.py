"""Fields a BRP extract does not hold but implies: derived from parent and address relations.

A BRP extract (GBA-V / BRP-bevraging) has one row per person: BSN, birth date, sex, the
parents' BSNs and an address (or household) id. The federation's indicators ask for a
child's household type and for the mother's age at her first child; both follow from the
relations, so a holder declares them (``[datasets.derive]``) instead of computing them by hand:

- ``household_type``: per child, the persons at the same address. ``eenouder`` where exactly one
  of the child's parents lives there and no other adult does except the parent's own children
  (a partner makes it a two-adult household), ``tweeouder`` where both parents or one parent with
  a partner live there, ``zonder_ouders`` where neither parent does (a child in care, with
  grandparents). An adult is 18 or older on the reference date.
- ``mother_age_at_first_child``: the mother is the female parent (``female`` codes of the sex
  column); her first child is the oldest person in the extract who has her as a parent; her age
  at that birth in completed years. Empty where the mother or her birth date is not in the
  extract: a mother who does not live in the gemeente is not in its BRP extract.
- ``age``: completed years on the reference date.

A JGZ export (one row per contact moment, docs/holders/jgz.md) holds measurements, not the
child's weight status; ``overweight`` derives it:

- ``overweight``: per child, its latest measurement (length in cm and weight in kg, both given)
  with a contact date in the year up to the reference date (after the same day a year before, on
  or before it): ``ja`` where the BMI at that contact is at or above the IOTF cut-off for the
  child's sex and exact age at the contact (``nodes/growth.py``, Cole et al. 2000), ``nee`` below
  it; written on that contact's row only, every other row is empty. Also empty (not counted)
  where there is no cut-off: under 2 or over 18 at the contact, or a sex that is neither a
  ``female`` nor a ``male`` code. A length or weight outside 40-230 cm or 2-300 kg stops the read
  (a unit error, mm or grams, would otherwise classify every child).

What is never read: names, the address itself (only whether two persons share its id).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Mapping

import pandas as pd

from wijkindex.errors import InputFileError
from wijkindex.nodes import growth

DERIVATIONS = ("household_type", "mother_age_at_first_child", "age", "overweight")
ADULT = 18
DERIVED_KIND = {"household_type": "code", "mother_age_at_first_child": "int", "age": "int", "overweight": "code"}
PERIOD_YEARS = 1  # overweight: the measurements of the year up to the reference date


@dataclass(frozen=True)
class Relations:
    """The columns of a BRP extract that carry the relations (federation names, after rename)."""

    parents: tuple[str, ...] = ("bsn_ouder1", "bsn_ouder2")
    address: str = "adres_id"
    sex: str = "geslacht"
    born: str = "geboortedatum"
    female: tuple[str, ...] = ("V", "F", "vrouw")
    derive: Mapping[str, str] = field(default_factory=dict)  # new column -> derivation
    # overweight, from a JGZ export's contact moments (federation names: map the export's in
    # [datasets.rename]); after ``derive``, as the config builds the ones above by position
    length: str = "lengte"  # cm
    weight: str = "gewicht"  # kg
    measured: str = "contactdatum"  # the date of the contact (and of its measurement)
    male: tuple[str, ...] = ("M", "man", "mannelijk", "jongen")


def _ages(born: pd.Series, on: date) -> pd.Series:
    b = pd.to_datetime(born)
    day = pd.Timestamp(on)
    before = (b.dt.month > day.month) | ((b.dt.month == day.month) & (b.dt.day > day.day))
    return day.year - b.dt.year - before.astype(int)


def _parent_lists(f: pd.DataFrame, r: Relations) -> list[list[str]]:
    cols = [f[p].fillna("").astype(str).str.strip().tolist() for p in r.parents]
    return [[p for p in ps if p] for ps in zip(*cols)]


def _household_type(f: pd.DataFrame, id_col: str, r: Relations, age: pd.Series) -> pd.Series:
    ids = f[id_col].astype(str).tolist()
    address = f[r.address].fillna("").astype(str).str.strip().tolist()
    at = dict(zip(ids, address))
    parents = _parent_lists(f, r)
    adult = (age >= ADULT).fillna(False).tolist()
    adults_at: dict[str, list[int]] = {}
    for k, (a, grown) in enumerate(zip(address, adult)):
        if grown and a:
            adults_at.setdefault(a, []).append(k)
    out = []
    for k in range(len(ids)):
        a, mine = address[k], set(parents[k])
        home = sum(1 for p in mine if a and at.get(p) == a)
        if home == 0:
            out.append("zonder_ouders")
        elif home >= 2:
            out.append("tweeouder")
        else:  # one parent at home: a partner is another adult there, not the parent's own (adult) child
            partner = any(ids[j] not in mine and j != k and not (mine & set(parents[j])) for j in adults_at.get(a, ()))
            out.append("tweeouder" if partner else "eenouder")
    return pd.Series(out, index=f.index, dtype=object)


def _mother_age_at_first_child(f: pd.DataFrame, id_col: str, r: Relations) -> pd.Series:
    ids = f[id_col].astype(str).tolist()
    born = pd.to_datetime(f[r.born]).tolist()
    born_of = dict(zip(ids, born))
    female = {v.lower() for v in r.female}
    is_female = dict(zip(ids, f[r.sex].astype(str).str.strip().str.lower().isin(female).tolist()))
    parents = _parent_lists(f, r)
    first: dict[str, pd.Timestamp] = {}  # mother -> birth date of her oldest child in the extract
    for ps, b in zip(parents, born):
        for p in ps:
            if pd.notna(b) and (p not in first or b < first[p]):
                first[p] = b
    out: list[object] = []
    for ps in parents:
        m = next((p for p in ps if is_female.get(p)), None)
        b_m = born_of.get(m) if m is not None else None
        if m is None or m not in first or b_m is None or pd.isna(b_m):
            out.append(pd.NA)
            continue
        b_c = first[m]
        out.append(b_c.year - b_m.year - int((b_c.month, b_c.day) < (b_m.month, b_m.day)))
    return pd.Series(out, index=f.index, dtype="Int64")


def _child_keys(f: pd.DataFrame, id_col: str) -> list[str]:
    """Which rows are one child's: the identifier without spaces, dots and dashes (as a BSN is
    normalised); a row without one is its own."""
    keys = f[id_col].fillna("").astype(str).str.replace(r"[\s.\-]", "", regex=True).tolist()
    return [k if k else f"\0row{i}" for i, k in enumerate(keys)]


def _overweight(f: pd.DataFrame, id_col: str, r: Relations, on: date) -> pd.Series:
    missing = [c for c in (r.length, r.weight, r.measured, r.sex, r.born) if c not in f.columns]
    if missing:
        text = f"the derivation overweight reads the column(s) {', '.join(missing)}, which the dataset does not declare"
        raise InputFileError(text, public=text,
                             fix="declare lengte and gewicht (number), contactdatum and geboortedatum (date) and "
                                 "geslacht (code) in the dataset's columns, and map the export's names to them in "
                                 "[datasets.rename] (docs/holders/jgz.md)")
    length = pd.to_numeric(f[r.length], errors="coerce")
    weight = pd.to_numeric(f[r.weight], errors="coerce")
    measured_on = pd.to_datetime(f[r.measured], errors="coerce")
    born = pd.to_datetime(f[r.born], errors="coerce")
    measured = (length.notna() & weight.notna() & measured_on.notna()).to_numpy()
    bad = measured & ~((length >= growth.LENGTH_CM[0]) & (length <= growth.LENGTH_CM[1]) &
                       (weight >= growth.WEIGHT_KG[0]) & (weight <= growth.WEIGHT_KG[1])).to_numpy()
    if bad.any():
        text = (f"the derivation overweight: {int(bad.sum())} of {int(measured.sum())} measurements are outside "
                f"{growth.LENGTH_CM[0]:g}-{growth.LENGTH_CM[1]:g} cm or {growth.WEIGHT_KG[0]:g}-"
                f"{growth.WEIGHT_KG[1]:g} kg")
        raise InputFileError(text, public=text, fix="export the length in cm and the weight in kg (not mm, m or "
                             "grams), and correct mistyped measurements")
    day = pd.Timestamp(on)
    since = day - pd.DateOffset(years=PERIOD_YEARS)
    in_period = measured & ((measured_on > since) & (measured_on <= day)).to_numpy()
    latest: dict[str, int] = {}  # child -> row of its latest measurement in the period (the last row on a tie)
    for k, (key, when) in enumerate(zip(_child_keys(f, id_col), measured_on.tolist())):
        if in_period[k] and (key not in latest or when >= measured_on.iloc[latest[key]]):
            latest[key] = k
    female = {v.lower() for v in r.female}
    male = {v.lower() for v in r.male}
    sexes = f[r.sex].fillna("").astype(str).str.strip().str.lower().tolist()
    out = [""] * len(f)
    for k in latest.values():
        if pd.isna(born.iloc[k]) or sexes[k] not in female | male:
            continue
        cutoff = growth.overweight_cutoff(growth.exact_age(born.iloc[k].date(), measured_on.iloc[k].date()),
                                          female=sexes[k] in female)
        if cutoff is not None:
            out[k] = "ja" if growth.bmi(float(length.iloc[k]), float(weight.iloc[k])) >= cutoff else "nee"
    return pd.Series(out, index=f.index, dtype=object)


def derive_fields(frame: pd.DataFrame, id_col: str, relations: Relations, on: date) -> pd.DataFrame:
    """``frame`` with the declared derived columns added (computed over every person in it)."""
    out = frame.copy()
    age = _ages(out[relations.born], on)
    for column, how in relations.derive.items():
        if how == "age":
            out[column] = age.astype("Int64")
        elif how == "household_type":
            out[column] = _household_type(out, id_col, relations, age)
        elif how == "mother_age_at_first_child":
            out[column] = _mother_age_at_first_child(out, id_col, relations)
        elif how == "overweight":
            out[column] = _overweight(out, id_col, relations, on)
        else:  # the config checker allows only DERIVATIONS
            raise ValueError(f"unknown derivation {how!r}")
    return out
