"""Relative risks from the 2x2 tables that joint indicators give (post-processing only).

From an exposure E (e.g. eenoudergezin), an outcome O (psychosociale_problemen), their
joint count EO and the cell's population N, the 2x2 table is complete: exposed cases EO
of E exposed, unexposed cases O - EO of N - E. The relative risk is
(EO/E) / ((O-EO)/(N-E)); its 90% interval comes from the delta method on log RR with the
independent noises the nodes declared (the population is a census, so noise is the only
error). Definitions live in the index definition TOML as ``[[relative_risk]]`` tables.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from wijkindex.estimators.composite import DEFAULT_DEFINITION
from wijkindex.estimators.index import noisy_columns
from wijkindex.errors import ConfigError
from wijkindex.vocabulary import TOTAL_BAND, Z90

MIN_GROUP = 10
RR_COLUMNS = ["period", "gemeente_code", "wijk_code", "wijk_name", "age_band", "name", "label", "label_en",
              "exposure", "outcome", "exposed", "exposed_cases", "unexposed", "unexposed_cases", "risk_exposed",
              "risk_unexposed", "relative_risk", "rr_low90", "rr_high90", "suppressed"]


@dataclass(frozen=True)
class RelativeRiskDef:
    name: str
    exposure: str
    outcome: str
    joint: str
    label: str
    label_en: str


def load_relative_risks(path: Path | str | None = None) -> tuple[RelativeRiskDef, ...]:
    path = Path(path or DEFAULT_DEFINITION)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the index definition: {exc}") from None
    out, problems = [], []
    for i, d in enumerate(raw.get("relative_risk", [])):
        for key in ("name", "exposure", "outcome", "joint"):
            if not isinstance(d.get(key), str) or not d.get(key):
                problems.append(f"relative_risk[{i}].{key}: missing")
        if not problems:
            out.append(RelativeRiskDef(d["name"], d["exposure"], d["outcome"], d["joint"],
                                       str(d.get("label", d["name"])), str(d.get("label_en", d.get("label", d["name"])))))
    if problems:
        raise ConfigError(f"{path} is invalid:\n  - " + "\n  - ".join(problems))
    return tuple(out)


def _rr(a: float, e: float, b: float, u: float, v_a: float, v_e: float, v_o: float,
        v_n: float) -> tuple[float, float, float]:
    """RR of a/e vs b/u and its 90% interval; v_* are the noise variances of EO, E, O and N."""
    if min(a, e, b, u) <= 0:
        return math.nan, math.nan, math.nan
    rr = (a / e) / (b / u)
    var = v_a * (1 / a + 1 / b) ** 2 + v_e * (1 / e + 1 / u) ** 2 + v_o / b ** 2 + v_n / u ** 2
    half = Z90 * math.sqrt(var)
    return rr, rr * math.exp(-half), rr * math.exp(half)


def relative_risks(index: pd.DataFrame, defs: tuple[RelativeRiskDef, ...]) -> pd.DataFrame:
    """One row per definition, wijk (and gemeente) and age band, plus all bands together ("0-17")."""
    have = set(index["indicator"])
    num_col, den_col = noisy_columns(index)  # unclipped: sums over bands and the gemeente stay unbiased
    rows: list[Any] = []
    keyed = index.set_index(["indicator", "wijk_code", "age_band"])
    cells = index[["wijk_code", "wijk_name", "age_band"]].drop_duplicates()
    for d in defs:
        if not {d.exposure, d.outcome, d.joint} <= have:
            continue
        per_wijk: dict[str, list[tuple[float, ...]]] = {}
        for c in cells.itertuples():
            if any((ind, c.wijk_code, c.age_band) not in keyed.index for ind in (d.exposure, d.outcome, d.joint)):
                continue  # a band outside the outcome's ages: no table
            e_row = keyed.loc[(d.exposure, c.wijk_code, c.age_band)]
            o_row = keyed.loc[(d.outcome, c.wijk_code, c.age_band)]
            j_row = keyed.loc[(d.joint, c.wijk_code, c.age_band)]
            sup = bool(e_row["suppressed"] or o_row["suppressed"] or j_row["suppressed"])
            vals = (e_row[den_col], e_row[num_col], o_row[num_col], j_row[num_col])
            if sup or any(pd.isna(v) for v in vals):
                rows.append((c.wijk_code, c.wijk_name, c.age_band, d, *(math.nan,) * 4, True, (0.0,) * 4))
                continue
            n, e, o, a = (float(v) for v in vals)
            var = tuple((float(r) / Z90) ** 2 for r in (j_row["numerator_moe90"], e_row["numerator_moe90"],
                                                         o_row["numerator_moe90"], e_row["denominator_moe90"]))
            b = o - a  # unclipped: a ratio with a non-positive part is not computed (_rr), not forced
            rows.append((c.wijk_code, c.wijk_name, c.age_band, d, e, a, n - e, b, False, var))
            per_wijk.setdefault(c.wijk_code, []).append((e, a, n - e, b, *var))
        for c in cells.drop_duplicates("wijk_code").itertuples():
            parts = per_wijk.get(c.wijk_code, [])
            if not parts:
                continue
            tot = np.sum(np.array(parts), axis=0)
            rows.append((c.wijk_code, c.wijk_name, TOTAL_BAND, d, *tot[:4], False, tuple(tot[4:])))
    out = []
    for code, name, band, d, e, a, u, b, sup, var in rows:
        sup = sup or not (e >= MIN_GROUP and u >= MIN_GROUP)
        rr, lo, hi = (math.nan,) * 3 if sup else _rr(a, e, b, u, *var)
        out.append((code, name, band, d.name, d.label, d.label_en, d.exposure, d.outcome, e, a, u, b,
                    min(max(a / e, 0.0), 1.0) if e > 0 else math.nan,
                    min(max(b / u, 0.0), 1.0) if u > 0 else math.nan, rr, lo, hi, sup))
    df = pd.DataFrame(out, columns=RR_COLUMNS[2:])
    df.insert(0, "period", int(index["period"].iloc[0]) if len(index) else 0)
    df.insert(1, "gemeente_code", str(index["gemeente_code"].iloc[0]) if len(index) else "")
    for col in ("relative_risk", "rr_low90", "rr_high90", "risk_exposed", "risk_unexposed"):
        df[col] = df[col].astype(float).round(4)
    return df
