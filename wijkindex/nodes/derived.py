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

What is never read: names, the address itself (only whether two persons share its id).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Mapping

import numpy as np
import pandas as pd

DERIVATIONS = ("household_type", "mother_age_at_first_child", "age")
ADULT = 18
DERIVED_KIND = {"household_type": "code", "mother_age_at_first_child": "int", "age": "int"}


@dataclass(frozen=True)
class Relations:
    """The columns of a BRP extract that carry the relations (federation names, after rename)."""

    parents: tuple[str, ...] = ("bsn_ouder1", "bsn_ouder2")
    address: str = "adres_id"
    sex: str = "geslacht"
    born: str = "geboortedatum"
    female: tuple[str, ...] = ("V", "F", "vrouw")
    derive: Mapping[str, str] = field(default_factory=dict)  # new column -> derivation


def _ages(born: pd.Series, on: date) -> pd.Series:
    b = pd.to_datetime(born)
    day = pd.Timestamp(on)
    before = (b.dt.month > day.month) | ((b.dt.month == day.month) & (b.dt.day > day.day))
    return day.year - b.dt.year - before.astype(int)


def _household_type(f: pd.DataFrame, id_col: str, r: Relations, age: pd.Series) -> pd.Series:
    address = f[r.address].astype(str).str.strip()
    at = dict(zip(f[id_col], address))
    parents = [f[p].fillna("").astype(str).str.strip() for p in r.parents]
    home = [np.array([bool(p) and at.get(p) == a and a != "" for p, a in zip(col, address)]) for col in parents]
    n_home = np.sum([h.astype(int) for h in home], axis=0)
    # the adults at each address, and which of them are a given person's parents or their children
    adults = f.loc[(age >= ADULT).to_numpy() & (address != "").to_numpy()]
    adults_at: dict[str, list[int]] = {}
    for i, a in zip(adults.index, address[adults.index]):
        adults_at.setdefault(a, []).append(i)
    ids = f[id_col].astype(str).tolist()
    parent_sets = [set(filter(None, (parents[0].iloc[i], parents[1].iloc[i] if len(parents) > 1 else "")))
                   for i in range(len(f))]
    out = []
    for i in range(len(f)):
        if n_home[i] == 0:
            out.append("zonder_ouders")
            continue
        if n_home[i] >= 2:
            out.append("tweeouder")
            continue
        mine = parent_sets[i]
        others = [j for j in adults_at.get(address.iloc[i], []) if ids[j] not in mine and ids[j] != ids[i]
                  and not (parent_sets[j] & mine)]  # an adult sibling (a child of the parent) is no partner
        out.append("tweeouder" if others else "eenouder")
    return pd.Series(out, index=f.index, dtype=object)


def _mother_age_at_first_child(f: pd.DataFrame, id_col: str, r: Relations) -> pd.Series:
    born = pd.to_datetime(f[r.born])
    born_of = dict(zip(f[id_col].astype(str), born))
    female = {v.lower() for v in r.female}
    is_female = dict(zip(f[id_col].astype(str), f[r.sex].astype(str).str.strip().str.lower().isin(female)))
    first: dict[str, pd.Timestamp] = {}  # mother -> birth date of her oldest child in the extract
    for col in r.parents:
        for p, b in zip(f[col].fillna("").astype(str).str.strip(), born):
            if p and pd.notna(b) and (p not in first or b < first[p]):
                first[p] = b
    out = []
    for i in range(len(f)):
        mothers = [p for col in r.parents if (p := str(f[col].iloc[i] or "").strip()) and is_female.get(p)]
        m = mothers[0] if mothers else None
        if m is None or m not in first or pd.isna(born_of.get(m)):
            out.append(pd.NA)
            continue
        b_m, b_c = born_of[m], first[m]
        out.append(b_c.year - b_m.year - int((b_c.month, b_c.day) < (b_m.month, b_m.day)))
    return pd.Series(out, index=f.index, dtype="Int64")


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
        else:  # the config checker allows only DERIVATIONS
            raise ValueError(f"unknown derivation {how!r}")
    return out
