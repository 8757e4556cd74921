"""Relative risks from the 2x2 tables that joint indicators give (post-processing only).

From an exposure E (e.g. eenoudergezin), an outcome O (psychosociale_problemen), their
joint count EO and the cell's population N, the 2x2 table is complete: exposed cases
a = EO of e = E exposed, unexposed cases b = O - EO of u = N - E. The relative risk is
RR = (a/e) / (b/u) = (a*u) / (e*b). The population is a census, so the only error is the
noise the nodes added, whose variance the index records (``*_moe90``).

Interval (default ``method = "fieller"``): for each candidate RR, is a*u - RR*e*b
compatible with zero given the known noise? Fieller's interval is exact for a ratio of two
normal quantities and honest where the denominator may be near zero (the interval then
becomes unbounded). The old delta-method interval on log RR assumed every part's noise
small; where b or a was small and noisy it missed the truth too often.

Publication: a ratio is shown only where the joint count's noise SD is at most 1/K_SD of
the exposed and unexposed cases the margins imply (O*E/N, O*U/N), and its interval is
bounded with high/low at most ``max_factor``. The rule is decided on the margins, which
are precise, and not on the noisy joint count: deciding on the joint count (or on the
interval it gives) publishes mostly the draws whose noise happened to enlarge it, and
those ratios are biased upwards (+40% to +140% on the gemeente rows, bench_validity).
Otherwise the row says why (``rr_note``). The point estimate is the ratio with its
second-order noise bias removed. The method is chosen by name in the index definition
(``method`` on a ``[[relative_risk]]`` table, one of ``METHODS``); a new method is one
new function.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from wijkindex.estimators.composite import DEFAULT_DEFINITION
from wijkindex.estimators.index import noisy_columns
from wijkindex.errors import ConfigError
from wijkindex.vocabulary import TOTAL_BAND, Z90

MIN_GROUP = 10
MAX_FACTOR = 10.0  # default: publish a ratio only where its 90% interval's high/low is at most this
DEFAULT_METHOD = "fieller"
NOTE_FEW = ("te weinig kinderen", "too few children")


K_SD = 4.0  # publish only where the joint count's noise SD is at most 1/K_SD of the cases the margins imply
NOTE_NOISY = (f"te onzeker: ruis groter dan 1/{K_SD:g} van het verwachte aantal gevallen",
              f"too uncertain: noise above 1/{K_SD:g} of the expected number of cases")


def precise_enough(t: Table2x2) -> bool:
    """Whether the joint count's noise SD is at most 1/K_SD of the exposed and the unexposed cases
    the margins imply (O*E/N, O*U/N). Decided on the margins, not on the noisy joint count itself:
    a rule on the noisy count would publish mainly the draws whose noise happened to enlarge it,
    and those ratios are biased upwards."""
    o, n = t.a + t.b, t.e + t.u
    if min(o, t.e, t.u) <= 0:
        return False
    return K_SD * math.sqrt(t.v_a) <= min(o * t.e / n, o * t.u / n)


def note_uncertain(factor: float) -> tuple[str, str]:
    """The reason a ratio is not published (Dutch, English)."""
    return (f"te onzeker: 90%-interval breder dan factor {factor:g}",
            f"too uncertain: 90% interval wider than a factor {factor:g}")
RR_COLUMNS = ["period", "gemeente_code", "wijk_code", "wijk_name", "age_band", "name", "label", "label_en",
              "exposure", "outcome", "exposed", "exposed_cases", "unexposed", "unexposed_cases", "risk_exposed",
              "risk_unexposed", "relative_risk", "rr_low90", "rr_high90", "suppressed", "published", "method",
              "rr_note", "rr_note_en"]


@dataclass(frozen=True)
class Table2x2:
    """Noised parts a (exposed cases), e (exposed), b (unexposed cases), u (unexposed) and the
    noise variances of the released counts EO, E, O and N they are made of."""

    a: float
    e: float
    b: float
    u: float
    v_a: float
    v_e: float
    v_o: float
    v_n: float

    def moments(self) -> tuple[float, float, float, float, float]:
        """X = a*u, Y = e*b and the noise (co)variances Vxx, Vyy, Vxy of these products."""
        v_b, v_u = self.v_o + self.v_a, self.v_n + self.v_e  # b = O - EO, u = N - E
        x, y = self.a * self.u, self.e * self.b
        vxx = self.a ** 2 * v_u + self.u ** 2 * self.v_a - self.v_a * v_u  # unbiased plug-in
        vyy = self.e ** 2 * v_b + self.b ** 2 * self.v_e - self.v_e * v_b
        vxy = -self.v_a * self.u * self.e - self.v_e * self.a * self.b + self.v_a * self.v_e  # shared EO, E noise
        return x, y, max(vxx, 0.0), max(vyy, 0.0), vxy


Estimate = tuple[float, float, float]  # RR, 90% low, 90% high (NaN: none; inf: unbounded)
NONE: Estimate = (math.nan, math.nan, math.nan)


def _bias_corrected(t: Table2x2) -> float:
    """a*u/(e*b) divided by its second-order noise bias 1 + Vyy/Y^2 - Vxy/(X*Y)."""
    x, y, _, vyy, vxy = t.moments()
    if x <= 0 or y <= 0:
        return x / y if y > 0 else math.nan
    return (x / y) / (1 + vyy / y ** 2 - vxy / (x * y))


def fieller(t: Table2x2) -> Estimate:
    """Fieller's 90% interval for X/Y: every r with (X - r*Y)^2 <= z^2 Var(X - r*Y).
    Unbounded (inf) where Y is not clearly above zero."""
    x, y, vxx, vyy, vxy = t.moments()
    z2 = Z90 ** 2
    qa, qb, qc = y ** 2 - z2 * vyy, x * y - z2 * vxy, x ** 2 - z2 * vxx  # qa r^2 - 2 qb r + qc <= 0
    disc = qb ** 2 - qa * qc
    if qa <= 0 or disc < 0:
        return _bias_corrected(t) if y > 0 else math.nan, 0.0, math.inf
    root = math.sqrt(disc)
    return _bias_corrected(t), max((qb - root) / qa, 0.0), (qb + root) / qa


def delta(t: Table2x2) -> Estimate:
    """The plug-in ratio with a delta-method interval on log RR (kept for comparison)."""
    if min(t.a, t.e, t.b, t.u) <= 0:
        return NONE
    rr = (t.a / t.e) / (t.b / t.u)
    var = (t.v_a * (1 / t.a + 1 / t.b) ** 2 + t.v_e * (1 / t.e + 1 / t.u) ** 2
           + t.v_o / t.b ** 2 + t.v_n / t.u ** 2)
    half = Z90 * math.sqrt(var)
    return rr, rr * math.exp(-half), rr * math.exp(half)


def bootstrap(t: Table2x2, draws: int = 2000) -> Estimate:
    """Percentile interval of RR over re-noised tables (normal noise of the recorded variances,
    seeded so a report is reproducible); draws with a non-positive b count as unbounded."""
    rng = np.random.default_rng(20141)
    na, ne, no, nn = (rng.normal(0, math.sqrt(v), draws) for v in (t.v_a, t.v_e, t.v_o, t.v_n))
    a, e, b, u = t.a + na, t.e + ne, t.b + no - na, t.u + nn - ne
    rr = np.where((e > 0) & (b > 0), a * u / np.where((e > 0) & (b > 0), e * b, 1), np.inf)
    lo, hi = np.quantile(rr, [0.05, 0.95])
    return _bias_corrected(t), max(float(lo), 0.0), float(hi)


METHODS: dict[str, Callable[[Table2x2], Estimate]] = {"fieller": fieller, "delta": delta, "bootstrap": bootstrap}


@dataclass(frozen=True)
class RelativeRiskDef:
    name: str
    exposure: str
    outcome: str
    joint: str
    label: str
    label_en: str
    method: str = DEFAULT_METHOD
    max_factor: float = MAX_FACTOR


def _parse_def(i: int, d: dict[str, Any], problems: list[str]) -> RelativeRiskDef | None:
    """One ``[[relative_risk]]`` table, or None with its problems noted."""
    bad = [f"relative_risk[{i}].{key}: missing" for key in ("name", "exposure", "outcome", "joint")
           if not isinstance(d.get(key), str) or not d.get(key)]
    method = d.get("method", DEFAULT_METHOD)
    if method not in METHODS:
        bad.append(f"relative_risk[{i}].method: unknown estimator {method!r}; allowed: {', '.join(sorted(METHODS))}")
    factor = d.get("max_factor", MAX_FACTOR)
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 1:
        bad.append(f"relative_risk[{i}].max_factor: must be a number above 1, got {factor!r}")
    problems += bad
    if bad:
        return None
    return RelativeRiskDef(d["name"], d["exposure"], d["outcome"], d["joint"], str(d.get("label", d["name"])),
                           str(d.get("label_en", d.get("label", d["name"]))), method, float(factor))


def load_relative_risks(path: Path | str | None = None) -> tuple[RelativeRiskDef, ...]:
    path = Path(path or DEFAULT_DEFINITION)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the index definition: {exc}") from None
    problems: list[str] = []
    out = [_parse_def(i, d, problems) for i, d in enumerate(raw.get("relative_risk", []))]
    if problems:
        raise ConfigError(f"{path} is invalid:\n  - " + "\n  - ".join(problems))
    return tuple(d for d in out if d is not None)


def estimate(t: Table2x2, method: str = DEFAULT_METHOD,
             max_factor: float = MAX_FACTOR) -> tuple[Estimate, tuple[str, str] | None]:
    """The named method's estimate, blanked with a note where its interval is not informative
    (unbounded, reaching 0, or high/low above ``max_factor``)."""
    if not precise_enough(t):
        return NONE, NOTE_NOISY
    rr, lo, hi = METHODS[method](t)
    if not (np.isfinite([rr, lo, hi]).all() and rr > 0 and lo > 0 and hi / lo <= max_factor):
        return NONE, note_uncertain(max_factor)
    return (rr, lo, hi), None


def _cell_parts(keyed: pd.DataFrame, d: RelativeRiskDef, wijk: str, band: str, num_col: str,
                den_col: str) -> tuple[float, ...] | None:
    """(e, a, u, b, v_a, v_e, v_o, v_n) of one cell, or None where a part is suppressed or missing."""
    e_row, o_row, j_row = (keyed.loc[(ind, wijk, band)] for ind in (d.exposure, d.outcome, d.joint))
    vals = (e_row[den_col], e_row[num_col], o_row[num_col], j_row[num_col])
    if e_row["suppressed"] or o_row["suppressed"] or j_row["suppressed"] or any(pd.isna(v) for v in vals):
        return None
    n, e, o, a = (float(v) for v in vals)
    var = tuple((float(r) / Z90) ** 2 for r in (j_row["numerator_moe90"], e_row["numerator_moe90"],
                                                 o_row["numerator_moe90"], e_row["denominator_moe90"]))
    return (e, a, n - e, o - a, *var)  # unclipped: sums over bands and the gemeente stay unbiased


def _row(code: str, name: str, band: str, d: RelativeRiskDef, parts: tuple[float, ...] | None) -> tuple:
    """One output row from a cell's parts (None: suppressed)."""
    e, a, u, b, *var = parts if parts is not None else (math.nan,) * 8
    few = parts is None or not (e >= MIN_GROUP and u >= MIN_GROUP)
    (rr, lo, hi), note = (NONE, NOTE_FEW) if few else estimate(Table2x2(a, e, b, u, *var), d.method, d.max_factor)
    return (code, name, band, d.name, d.label, d.label_en, d.exposure, d.outcome, e, a, u, b,
            min(max(a / e, 0.0), 1.0) if e > 0 else math.nan, min(max(b / u, 0.0), 1.0) if u > 0 else math.nan,
            rr, lo, hi, few, note is None, d.method, *(note or ("", "")))


def relative_risks(index: pd.DataFrame, defs: tuple[RelativeRiskDef, ...]) -> pd.DataFrame:
    """One row per definition, wijk (and gemeente) and age band, plus all bands together ("0-17")."""
    have = set(index["indicator"])
    num_col, den_col = noisy_columns(index)
    keyed = index.set_index(["indicator", "wijk_code", "age_band"])
    cells = index[["wijk_code", "wijk_name", "age_band"]].drop_duplicates()
    rows: list[tuple] = []
    for d in defs:
        if not {d.exposure, d.outcome, d.joint} <= have:
            continue
        per_wijk: dict[str, list[tuple[float, ...]]] = {}
        for c in cells.itertuples():
            if any((ind, c.wijk_code, c.age_band) not in keyed.index for ind in (d.exposure, d.outcome, d.joint)):
                continue  # a band outside the outcome's ages: no table
            parts = _cell_parts(keyed, d, c.wijk_code, c.age_band, num_col, den_col)
            rows.append(_row(c.wijk_code, c.wijk_name, c.age_band, d, parts))
            if parts is not None:
                per_wijk.setdefault(c.wijk_code, []).append(parts)
        for c in cells.drop_duplicates("wijk_code").itertuples():
            if per_wijk.get(c.wijk_code):
                tot = tuple(float(x) for x in np.sum(np.array(per_wijk[c.wijk_code]), axis=0))
                rows.append(_row(c.wijk_code, c.wijk_name, TOTAL_BAND, d, tot))
    df = pd.DataFrame(rows, columns=RR_COLUMNS[2:])
    df.insert(0, "period", int(index["period"].iloc[0]) if len(index) else 0)
    df.insert(1, "gemeente_code", str(index["gemeente_code"].iloc[0]) if len(index) else "")
    for col in ("relative_risk", "rr_low90", "rr_high90", "risk_exposed", "risk_unexposed"):
        df[col] = df[col].astype(float).round(4)
    return df
