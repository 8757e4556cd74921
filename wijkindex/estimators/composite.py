"""Composite scores per wijk and domain from the noised index (post-processing only).

An index definition (versioned TOML, default ``default_index.toml``) groups indicators
into risk and protective domains with weights. Per wijk, each indicator's 0-17 rate (the
sum over the age bands that are not suppressed) is compared with the gemeente's
(= 100); a domain's score is the weighted mean of those indices, with a 90% margin of
error propagated from the indicators' margins.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from wijkindex.estimators.index import wijk_totals
from wijkindex.vocabulary import Z90
from wijkindex.estimators.smoothing import estimate, standing
from wijkindex.errors import ConfigError

DEFAULT_DEFINITION = Path(__file__).with_name("default_index.toml")
TOTAL = "totaal"


@dataclass(frozen=True)
class Domain:
    name: str
    label: str
    label_en: str
    kind: str
    weights: dict[str, float]


@dataclass(frozen=True)
class IndexDefinition:
    name: str
    domains: tuple[Domain, ...]
    min_children: int = 500
    shrink: bool = True

    @property
    def orientation(self) -> dict[str, int]:
        """Indicator -> +1 (in a risk domain) or -1 (protective), for the cross-indicator estimate."""
        return {i: (1 if d.kind == "risk" else -1) for d in self.domains for i in d.weights}

    @classmethod
    def load(cls, path: Path | str | None = None) -> "IndexDefinition":
        path = Path(path or DEFAULT_DEFINITION)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the index definition: {exc}") from None
        problems = []
        if raw.get("version") != 1:
            problems.append("version: must be 1")
        domains = []
        for i, d in enumerate(raw.get("domains", [])):
            weights = d.get("indicators", {})
            if d.get("kind") not in ("risk", "protective"):
                problems.append(f"domains[{i}].kind: 'risk' or 'protective'")
            if not weights or not all(isinstance(w, (int, float)) and w > 0 for w in weights.values()):
                problems.append(f"domains[{i}].indicators: a table of indicator = positive weight")
            if not d.get("name"):
                problems.append(f"domains[{i}].name: missing")
            domains.append(Domain(str(d.get("name", "")), str(d.get("label", d.get("name", ""))),
                                  str(d.get("label_en", d.get("label", d.get("name", "")))), str(d.get("kind")),
                                  {k: float(v) for k, v in weights.items()}))
        if not domains:
            problems.append("domains: at least one [[domains]] table")
        min_children = raw.get("min_children", 500)
        if not isinstance(min_children, int) or isinstance(min_children, bool) or min_children < 0:
            problems.append(f"min_children: a non-negative integer, got {min_children!r}")
        shrink = raw.get("shrink", True)
        if not isinstance(shrink, bool):
            problems.append(f"shrink: true or false, got {shrink!r}")
        if problems:
            raise ConfigError(f"{path} is invalid:\n  - " + "\n  - ".join(problems))
        return cls(str(raw.get("name", path.stem)), tuple(domains), int(min_children), bool(shrink))


def wijk_indices(index: pd.DataFrame, shrink: bool = True,
                 orientation: Mapping[str, int] | None = None) -> pd.DataFrame:
    """Per wijk and indicator: the 0-17 rate over non-suppressed bands and its index vs the gemeente.

    With ``shrink``, ``rate`` and ``index`` are small-area estimates (``rate_raw`` keeps the direct
    one) and ``index_moe90`` is their 90% margin. ``orientation`` (indicator -> +1 for a risk, -1
    for a protective factor) names the indicators whose standing predicts each rate (Fay-Herriot
    with that covariate); without it, rates shrink towards the gemeente rate.
    """
    agg = wijk_totals(index)
    agg["rate"] = agg["rate_raw"]
    agg["var_direct"] = agg["var"]
    if shrink:
        by_standing = standing(agg, orientation or {})
        wijk = (agg["wijk_code"] != agg["gemeente_code"]) & agg["rate_raw"].notna() & (agg["var"] > 0)
        for ind, g in agg[wijk].groupby("indicator"):
            mu = float(g["gemeente_rate"].iloc[0])
            if not np.isfinite(mu) or mu <= 0:
                continue
            est, var = estimate(g["rate_raw"].to_numpy(), g["var"].to_numpy(), mu,
                                by_standing.covariate(ind, g["wijk_code"]), g["denominator"].to_numpy(float),
                                by_standing.covariate_variance(ind, g["wijk_code"]))
            agg.loc[g.index, "rate"] = est
            agg.loc[g.index, "var"] = var
    agg["index"] = 100 * agg["rate"] / agg["gemeente_rate"].where(agg["gemeente_rate"] > 0)
    # the gemeente rate's own noise is left out of the margin: the small-area estimates are pulled
    # towards it, so a wijk's estimate moves with it and their ratio moves less than either; adding
    # its variance as if independent made the domain margins cover 92-98% (bench_validity, 40 draws)
    agg["index_moe90"] = 100 * Z90 * agg["var"].pow(0.5) / agg["gemeente_rate"]
    return agg


def _too_few(children: float, minimum: int) -> tuple[str, str]:
    n = int(children) if pd.notna(children) else 0
    return (f"te weinig kinderen (ongeveer {n}, minder dan {minimum})",
            f"too few children (about {n}, fewer than {minimum})")


def _domain_variance(g: pd.DataFrame, used: list[tuple[str, float]], total: float) -> float:
    """The squared 90% margin of a weighted mean of a wijk's indices (``g`` indexed by indicator).

    Two rates of one noised population (pupils: sport and a stable school career) share its noise,
    so their errors are correlated by r_i r_j Var(N) / (N^2 sd_i sd_j) of their direct rates; that
    correlation is carried over to their estimates' margins. Adding the margins as if independent
    made the protective domain's cover 78% (bench_validity)."""
    m = {i: float(g.loc[i, "index_moe90"]) for i, _ in used}
    var = sum((w / total) ** 2 * m[i] ** 2 for i, w in used)
    if "population" not in g.columns:
        return var
    for a, (i, wi) in enumerate(used):
        for j, wj in used[a + 1:]:
            if g.loc[i, "population"] != g.loc[j, "population"]:
                continue
            shared = min(float(g.loc[i, "den_var"]), float(g.loc[j, "den_var"]))
            sd = math.sqrt(float(g.loc[i, "var_direct"]) * float(g.loc[j, "var_direct"]))
            den = float(g.loc[i, "denominator"]) * float(g.loc[j, "denominator"])
            if sd > 0 and den > 0:
                rho = float(g.loc[i, "rate_raw"]) * float(g.loc[j, "rate_raw"]) * shared / den / sd
                var += 2 * (wi / total) * (wj / total) * min(max(rho, -1.0), 1.0) * m[i] * m[j]
    return max(var, 0.0)


def composite_scores(index: pd.DataFrame, definition: IndexDefinition | None = None) -> pd.DataFrame:
    """One row per (wijk, domain): score (gemeente = 100), its 90% margin, the indicators it is the
    weighted mean of (``indicators``: only those published for the wijk, so the score is of them
    and its margin says how sure it is of them) and, where there is no score, why
    (``no_score_reason``, Dutch; ``no_score_reason_en``)."""
    definition = definition or IndexDefinition.load()
    per = wijk_indices(index, shrink=definition.shrink, orientation=definition.orientation)
    children = per.groupby("wijk_code")["denominator"].max()  # the population, whatever the indicator
    rows = []
    for (code, name), g in per.groupby(["wijk_code", "wijk_name"], sort=False):
        g = g.set_index("indicator")
        small = code != g["gemeente_code"].iloc[0] and children.get(code, 0) < definition.min_children
        mine: list[tuple] = []
        for d in definition.domains:
            if small:  # too few children for a stable score: shown as such, not as a number
                mine.append((code, name, d.name, d.label, d.label_en, d.kind, math.nan, math.nan, 0, "",
                             *_too_few(children.get(code, 0), definition.min_children)))
                continue
            used = [(i, w) for i, w in d.weights.items() if i in g.index and pd.notna(g.loc[i, "index"])]
            total = sum(w for _, w in used)
            if not used:
                mine.append((code, name, d.name, d.label, d.label_en, d.kind, math.nan, math.nan, 0, "",
                             "geen indicator van dit domein gepubliceerd", "no indicator of this domain published"))
                continue
            score = sum(w * float(g.loc[i, "index"]) for i, w in used) / total
            moe = math.sqrt(_domain_variance(g, used, total))
            mine.append((code, name, d.name, d.label, d.label_en, d.kind, round(score, 1), round(moe, 1), len(used),
                         ", ".join(i for i, _ in used), "", ""))
        rows += mine
        # the overall score: every domain pointed the risk way (a protective 120 counts as 80)
        scored = [r for r in mine if not math.isnan(r[6])]
        if scored:
            score = sum(r[6] if r[5] == "risk" else 200 - r[6] for r in scored) / len(scored)
            moe = math.sqrt(sum(r[7] ** 2 for r in scored)) / len(scored)
            rows.append((code, name, TOTAL, "Totaal (risico)", "Overall (risk)", "risk", round(score, 1),
                         round(moe, 1), sum(r[8] for r in scored), ", ".join(r[9] for r in scored), "", ""))
        else:
            why = mine[-1][10:12] if mine else ("", "")
            rows.append((code, name, TOTAL, "Totaal (risico)", "Overall (risk)", "risk", math.nan, math.nan, 0, "",
                         *why))
    out = pd.DataFrame(rows, columns=["wijk_code", "wijk_name", "domain", "domain_label", "domain_label_en", "kind",
                                      "score", "moe90", "n_indicators", "indicators", "no_score_reason",
                                      "no_score_reason_en"])
    out.insert(0, "period", int(index["period"].iloc[0]) if len(index) else 0)
    out.insert(1, "gemeente_code", str(index["gemeente_code"].iloc[0]) if len(index) else "")
    return out


def score_of(indices: Mapping[str, float], domain: str, indicators: str, definition: IndexDefinition) -> float:
    """A composite row's score (its ``domain`` and ``indicators``) recomputed from other indices
    (indicator -> index, e.g. the truth's) over the same indicators the row used: what the row
    estimates. The overall row averages its domains' scores so recomputed, protective ones turned round."""
    used = [i for i in str(indicators).split(", ") if i]
    if not used:
        return math.nan
    domains = [d for d in definition.domains if d.name == domain]

    def mean(d: Domain) -> float:
        ws = [(i, w) for i, w in d.weights.items() if i in used]
        return sum(w * indices[i] for i, w in ws) / sum(w for _, w in ws) if ws else math.nan

    if domain != TOTAL:
        return mean(domains[0]) if domains else math.nan
    parts = [(d, mean(d)) for d in definition.domains]
    parts = [(d, x if d.kind == "risk" else 200 - x) for d, x in parts if not math.isnan(x)]
    return sum(x for _, x in parts) / len(parts) if parts else math.nan
