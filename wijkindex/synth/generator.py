"""A synthetic federation on a real geography (Zwolle 2014 by default, or any CBS gemeente):
one folder of CSV exports per holder.

Children are placed per buurt from the real age shares and inhabitants; households
draw their risk (single mother, mother without work, young mother, rented home with
huurtoeslag) from the buurt's single-parent, WWB and unemployment shares (real for Zwolle
2014, a modelled proxy for a CBS gemeente); child
outcomes follow a logistic model on that Smart Start profile plus a shared household
factor, with intercepts solved so gemeente rates match plausible Dutch rates (for a CBS gemeente:
its KWB youth care share, and bijstand, debt help and rented homes scaled by its poverty and
social housing relative to the country; ``Geography.calibration``). Holders
see realistic overlap: incomplete coverage, several records per child, children who do
not live in the gemeente, and a few rows with an invalid BSN.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import tomli_w

from wijkindex.errors import WijkindexError
from wijkindex.geography import Geography, default_geography
from wijkindex.synth.corrupt import IDENTIFIER_COLUMNS, corrupt
from wijkindex.synth.names import FIRST_NAMES_F, FIRST_NAMES_M, SURNAMES
from wijkindex.synth.truth import compute_truth

BANDS = ((0, 3, "share_0_3"), (4, 11, "share_4_11"), (12, 17, "share_12_17"))
HOUSEHOLD_SIZES = (np.array([1, 2, 3, 4]), np.array([0.36, 0.42, 0.16, 0.06]))
# Smart Start profile coefficients: (eenouder, moeder_werkloos, jonge_moeder, huurtoeslag, buurt), target rate
# among the children who can have it (ELIGIBLE). Protective factors come first: they are less
# common where risk stacks up, and they lower the risk outcomes after them (PROTECTS).
MODEL: dict[str, tuple[tuple[float, float, float, float, float], float]] = {
    "sport_cultuur": ((-0.5, -0.8, -0.3, -0.6, -0.4), 0.62),
    "stabiele_schoolloopbaan": ((-0.5, -0.6, -0.3, -0.4, -0.3), 0.85),
    "vve_indicatie": ((0.6, 1.0, 0.6, 0.8, 0.5), 0.22),
    "vve_deelname": ((-0.4, -0.6, -0.3, -0.3, -0.2), 0.78),
    "bijstand": ((1.3, 2.3, 0.4, 0.8, 0.5), 0.07),
    "schuldhulp": ((0.9, 1.0, 0.4, 1.0, 0.4), 0.04),
    "jeugdhulp": ((0.9, 0.5, 0.4, 0.4, 0.3), 0.11),
    "ots_uithuisplaatsing": ((1.2, 0.8, 0.8, 0.5, 0.3), 0.012),
    "overgewicht": ((0.3, 0.4, 0.2, 0.5, 0.4), 0.12),
    "taalachterstand": ((0.4, 0.6, 0.4, 0.6, 0.5), 0.12),
    "psychosociale_problemen": ((0.8, 0.5, 0.3, 0.3, 0.2), 0.10),
    "onderwijsachterstand": ((0.5, 0.9, 0.6, 0.7, 0.6), 0.10),
    "verzuim": ((0.7, 0.5, 0.3, 0.4, 0.3), 0.05),
}
PROTECTS = {  # outcome -> {protective factor: log-odds effect}: NJi's balansmodel, protection lowers risk
    "taalachterstand": {"vve_deelname": -1.0},
    "onderwijsachterstand": {"vve_deelname": -0.5, "stabiele_schoolloopbaan": -0.6},
    "verzuim": {"stabiele_schoolloopbaan": -1.0, "sport_cultuur": -0.3},
    "overgewicht": {"sport_cultuur": -0.6},
    "psychosociale_problemen": {"sport_cultuur": -0.5},
    "jeugdhulp": {"sport_cultuur": -0.3},
}
HOUSEHOLD_LEVEL = ("bijstand", "schuldhulp")
# yearly relative change of each indicator's gemeente-wide rate (multi-year federations)
TREND = {"jeugdhulp": 0.06, "psychosociale_problemen": 0.05, "verzuim": 0.03, "overgewicht": -0.03,
         "onderwijsachterstand": -0.04, "taalachterstand": -0.02, "bijstand": -0.03, "vve_deelname": 0.04,
         "sport_cultuur": 0.02}
IDENTIFIERS = {"voornaam": "given_name", "achternaam": "surname", "geboortedatum": "date", "geslacht": "sex",
               "postcode": "postcode"}
NO_BSN_SHARE = 0.12  # of the GGD's records: survey answers that identify a child only by name, date, sex, postcode
WIJK_DRIFT_SD = 0.25  # per-year drift of a wijk's social position (standardised buurt score)
SMART_START = ["gemeente:eenoudergezin", "gemeente:moeder_werkloos", "gemeente:jonge_moeder",
               "gemeente:huurtoeslag"]
# joint indicators over several holders' attributes (the Smart Start risk profile and a 2x2 table)
JOINT = {
    "eenouder_en_psychosociaal": ["gemeente:eenoudergezin", "ggd:psychosociale_problemen"],
    "smartstart_profiel": SMART_START,
    "smartstart_en_jeugdhulp": [*SMART_START, "gemeente:jeugdhulp"],
    "smartstart_en_onderwijsachterstand": [*SMART_START, "school:onderwijsachterstand"],
}
CUMULATIVE = {  # cumulative risk across the three holders (NJi: risk rises with stacked factors)
    "cumulatief_risico": ["gemeente:eenoudergezin", "gemeente:bijstand", "gemeente:schuldhulp",
                          "ggd:psychosociale_problemen", "school:onderwijsachterstand"],
}
HOLDERS = {
    "gemeente": ["eenoudergezin", "bijstand", "schuldhulp", "jeugdhulp", "ots_uithuisplaatsing", "huurtoeslag"],
    "ggd": ["overgewicht", "taalachterstand", "psychosociale_problemen", "vve_indicatie", "vve_deelname"],
    "school": ["onderwijsachterstand", "verzuim", "sport_cultuur", "stabiele_schoolloopbaan"],
}


@dataclass(frozen=True)
class FederationInfo:
    out_dir: Path
    period: int
    n_children: int
    holders: dict[str, list[str]] = field(default_factory=dict)
    gemeente_code: str = ""
    joint: dict[str, list[str]] = field(default_factory=dict)
    cumulative: dict[str, list[str]] = field(default_factory=dict)
    periods: tuple[int, ...] = ()
    fuzzy: tuple[str, ...] = ("ggd",)  # holders with records without a BSN, linked on identifiers

    def joint_indicators(self) -> list[str]:
        """Every index indicator the joint and cumulative definitions produce."""
        levels = [f"{n}_{k}" for n in self.cumulative for k in range(3)] + [f"{n}_3plus" for n in self.cumulative]
        return [*self.joint, *levels]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _intercept(eta: np.ndarray, target: float) -> float:
    """The intercept b with mean(sigmoid(b + eta)) == target (bisection)."""
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if _sigmoid(mid + eta).mean() < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _bsns(rng: np.random.Generator, n: int, exclude: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    """n unique valid BSNs (11-proef), none in ``exclude``."""
    weights = np.array([9, 8, 7, 6, 5, 4, 3, 2, -1])
    out: list[str] = []
    seen = set(exclude)
    while len(out) < n:
        nums = rng.integers(10_000_000, 999_999_999, size=2 * (n - len(out)) * 11 + 100)
        digits = (nums[:, None] // 10 ** np.arange(8, -1, -1)) % 10
        valid = nums[(digits @ weights) % 11 == 0]
        for v in valid:
            s = f"{v:09d}"
            if s not in seen:
                seen.add(s)
                out.append(s)
                if len(out) == n:
                    break
    return out


def _invalid_bsns(rng: np.random.Generator, n: int) -> list[str]:
    weights = np.array([9, 8, 7, 6, 5, 4, 3, 2, -1])
    nums = rng.integers(100_000_000, 999_999_999, size=n * 2 + 10)
    digits = (nums[:, None] // 10 ** np.arange(8, -1, -1)) % 10
    return [f"{v:09d}" for v in nums[(digits @ weights) % 11 != 0][:n]]


def _dates(rng: np.random.Generator, start: str, days: np.ndarray) -> np.ndarray:
    return (np.datetime64(start) + days.astype("timedelta64[D]")).astype("datetime64[D]")


def _birthdates(rng: np.random.Generator, ages: np.ndarray, period: int) -> np.ndarray:
    """A birth date giving exactly ``age`` completed years on 1 January of ``period``."""
    base = np.array([np.datetime64(f"{period - a - 1}-01-02") for a in range(18)])[ages]
    return (base + rng.integers(0, 365, size=len(ages)).astype("timedelta64[D]")).astype("datetime64[D]")


def _children(geo: Geography, rng: np.random.Generator, scale: float) -> pd.DataFrame:
    """One row per child: buurt, wijk and age, from the real per-buurt inhabitants and age shares."""
    rows = []
    for b in geo.buurten.itertuples():
        for low, high, share in BANDS:
            n = int(np.floor(b.inhabitants * getattr(b, share) * scale + rng.random()))  # stochastic rounding
            if n:
                rows.append(pd.DataFrame({"buurt_code": b.buurt_code, "wijk_code": b.wijk_code,
                                          "age": rng.integers(low, high + 1, size=n)}))
    kids = pd.concat(rows, ignore_index=True)
    # at small scales keep every populated wijk and band represented
    populated = geo.buurten[geo.buurten["inhabitants"] > 0]
    extra = []
    for wijk, g in populated.groupby("wijk_code"):
        top = g.sort_values("inhabitants").iloc[-1]
        for low, high, _ in BANDS:
            have = ((kids["wijk_code"] == wijk) & kids["age"].between(low, high)).sum()
            if have < 2:
                extra.append(pd.DataFrame({"buurt_code": top["buurt_code"], "wijk_code": wijk,
                                           "age": rng.integers(low, high + 1, size=2 - have)}))
    if extra:
        kids = pd.concat([kids, *extra], ignore_index=True)
    return kids


def _households(kids: pd.DataFrame, geo: Geography, rng: np.random.Generator) -> pd.DataFrame:
    """Group children per buurt into households and draw each household's risk profile."""
    kids = kids.sample(frac=1.0, random_state=int(rng.integers(2**31))).sort_values("buurt_code", kind="stable")
    kids = kids.reset_index(drop=True)
    hh = np.empty(len(kids), dtype=np.int64)
    next_id, start = 0, 0
    for _, g in kids.groupby("buurt_code", sort=False):
        n = len(g)
        sizes = rng.choice(HOUSEHOLD_SIZES[0], size=n, p=HOUSEHOLD_SIZES[1])
        ids = np.repeat(np.arange(next_id, next_id + n), sizes)[:n]
        hh[start:start + n] = ids
        next_id += n
        start += n
    kids["huishouden"] = hh
    b = geo.buurten.set_index("buurt_code")
    weights = b["inhabitants"].clip(lower=1)

    def z(col: str) -> pd.Series:
        v = np.log(b[col].clip(lower=0.002))
        mean = np.average(v, weights=weights)
        sd = np.sqrt(np.average((v - mean) ** 2, weights=weights))
        return (v - mean) / sd if sd > 0 else v * 0.0  # a gemeente of one wijk has no spread

    buurt_z = 0.5 * z("wwb_share") + 0.5 * z("unemployed_share")
    sp_rel = b["single_parent_hh_share"] / np.average(b["single_parent_hh_share"], weights=weights)
    house = kids.groupby("huishouden").agg(buurt_code=("buurt_code", "first")).reset_index()
    n_h = len(house)
    house["buurt_z"] = house["buurt_code"].map(buurt_z).to_numpy()
    p_single = np.clip(0.15 * house["buurt_code"].map(sp_rel).to_numpy() * np.exp(0.15 * house["buurt_z"]), 0.02, 0.6)
    single = rng.random(n_h) < p_single
    kind = np.where(single, "eenouder", np.where(rng.random(n_h) < 0.03, "overig", "tweeouder"))
    jobless = rng.random(n_h) < _sigmoid(-2.2 + 1.5 * single + 0.5 * house["buurt_z"].to_numpy())
    age_first = np.clip(np.round(rng.normal(29.8, 4.3, n_h) - 2.5 * single - 1.5 * jobless), 16, 44).astype(int)
    rent_shift = np.log(geo.calibration.get("rent_ratio", 1.0))  # the gemeente's social housing vs the country
    rent = rng.random(n_h) < _sigmoid(-2.3 + rent_shift + 1.6 * single + 1.4 * jobless + 0.6 * (age_first < 25)
                                      + 0.5 * house["buurt_z"].to_numpy())
    house["huishouden_type"] = kind
    house["moeder_werkloos"] = jobless.astype(int)
    house["moeder_leeftijd_eerste_kind"] = age_first
    house["huur_huurtoeslag"] = rent.astype(int)
    house["family_factor"] = rng.normal(0, 0.6, n_h)
    return kids.merge(house.drop(columns="buurt_code"), on="huishouden", how="left")


def _outcomes(kids: pd.DataFrame, rng: np.random.Generator, years_back: int = 0,
              wijk_drift: dict[str, float] | None = None, targets: dict[str, float] | None = None) -> pd.DataFrame:
    """Indicators from the risk profile; ``years_back`` earlier periods follow TREND and each wijk's drift;
    ``targets`` override MODEL's gemeente-wide rates (a CBS gemeente's KWB calibration)."""
    drift = kids["wijk_code"].map(wijk_drift or {}).fillna(0.0).to_numpy() * -years_back
    x = np.column_stack([(kids["huishouden_type"] == "eenouder").astype(float), kids["moeder_werkloos"],
                         (kids["moeder_leeftijd_eerste_kind"] < 30).astype(float), kids["huur_huurtoeslag"],
                         kids["buurt_z"].to_numpy() + drift])
    age = kids["age"].to_numpy()
    eligible = {
        "overgewicht": age >= 2, "taalachterstand": (age >= 2) & (age <= 5), "onderwijsachterstand": age >= 4,
        "verzuim": age >= 5, "vve_indicatie": (age >= 2) & (age <= 5), "sport_cultuur": age >= 4,
        "stabiele_schoolloopbaan": age >= 6,
    }
    age_effect = {"jeugdhulp": 0.5 * (age >= 12) - 0.7 * (age <= 3), "psychosociale_problemen": 0.3 * (age >= 12),
                  "verzuim": 0.8 * (age >= 12)}
    first_of_household = ~kids["huishouden"].duplicated()
    for name, (coef, target) in MODEL.items():
        target = (targets or {}).get(name, target)
        eta = x @ np.asarray(coef) + age_effect.get(name, 0) + kids["family_factor"].to_numpy()
        eta = eta + sum(effect * kids[factor].to_numpy() for factor, effect in PROTECTS.get(name, {}).items())
        if name == "vve_deelname":  # participation among the children with an indication
            eligible[name] = kids["vve_indicatie"].to_numpy() == 1
        ok = eligible.get(name, np.ones(len(kids), dtype=bool))
        b = _intercept(eta[ok], min(0.9, target * float(np.exp(-TREND.get(name, 0.0) * years_back))))
        draw = (rng.random(len(kids)) < _sigmoid(b + eta)) & ok
        if name in HOUSEHOLD_LEVEL:  # a household benefit: the same for every child of the household
            per_house = pd.Series(draw[first_of_household.to_numpy()],
                                  index=kids.loc[first_of_household, "huishouden"].to_numpy())
            draw = kids["huishouden"].map(per_house).to_numpy().astype(bool)
        kids[name] = draw.astype(int)
    kids["huurtoeslag"] = kids["huur_huurtoeslag"]
    return kids


def _names(kids: pd.DataFrame, rng: np.random.Generator) -> None:
    sex = np.where(rng.random(len(kids)) < 0.51, "M", "V")
    kids["geslacht"] = sex
    m = rng.integers(0, len(FIRST_NAMES_M), len(kids))
    f = rng.integers(0, len(FIRST_NAMES_F), len(kids))
    kids["voornaam"] = np.where(sex == "M", np.asarray(FIRST_NAMES_M)[m], np.asarray(FIRST_NAMES_F)[f])
    weights = 1.0 / np.arange(1, len(SURNAMES) + 1) ** 0.8  # Zipf-like: De Jong, Jansen ... are common
    surname = rng.choice(np.asarray(SURNAMES), size=kids["huishouden"].max() + 1, p=weights / weights.sum())
    kids["achternaam"] = surname[kids["huishouden"].to_numpy()]


def _addresses(kids: pd.DataFrame, geo: Geography, rng: np.random.Generator) -> None:
    codes = {b: 8000 + i % 47 for i, b in enumerate(geo.buurten["buurt_code"])}
    letters = np.array(list("ABCDEFGHJKLMNPRTVWXZ"))
    house = kids.groupby("huishouden")["buurt_code"].first()
    pc = {h: f"{codes[b]}{letters[rng.integers(20)]}{letters[rng.integers(20)]}" for h, b in house.items()}
    nr = dict(zip(house.index, rng.integers(1, 250, len(house))))
    kids["postcode"] = kids["huishouden"].map(pc)
    kids["huisnummer"] = kids["huishouden"].map(nr)


def _source_rows(kids: pd.DataFrame, flags: list[str], coverage: np.ndarray, dup_rate: float,
                 rng: np.random.Generator, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """Records of covered children; a duplicate record carries the flags only partly (any record counts)."""
    base = kids.loc[coverage, ["bsn", "geboortedatum", *extra, *flags]].copy()
    dups = base.sample(frac=dup_rate, random_state=int(rng.integers(2**31))).copy()
    for f in flags:
        dups[f] = (dups[f].to_numpy() & (rng.random(len(dups)) < 0.6)).astype(int)
    return pd.concat([base, dups], ignore_index=True)


def _outsiders(kids: pd.DataFrame, flags: list[str], n: int, ages: tuple[int, int], period: int,
               rng: np.random.Generator, exclude: set[str]) -> pd.DataFrame:
    """Children who do not live in the gemeente (valid BSNs, not in the spine)."""
    age = rng.integers(ages[0], ages[1] + 1, n)
    out = pd.DataFrame({"bsn": _bsns(rng, n, exclude), "geboortedatum": _birthdates(rng, age, period)})
    sex = np.where(rng.random(n) < 0.5, "M", "V")
    out["geslacht"] = sex
    out["voornaam"] = np.where(sex == "M", rng.choice(FIRST_NAMES_M, n), rng.choice(FIRST_NAMES_F, n))
    out["achternaam"] = rng.choice(SURNAMES, n)
    out["postcode"] = [f"{rng.integers(7000, 7999)} {chr(65 + rng.integers(20))}{chr(65 + rng.integers(20))}"
                       for _ in range(n)]  # elsewhere in Overijssel
    for f in flags:
        out[f] = (rng.random(n) < kids[f].mean()).astype(int)
    return out


def _invalid_rows(template: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    rows = template.sample(n=n, random_state=int(rng.integers(2**31)), replace=True).copy()
    rows["bsn"] = _invalid_bsns(rng, n)
    return rows


def _datasets_toml(holder: str, folder: str = "") -> dict:
    """A holder's dataset declarations; ``folder`` ("{period}/") when there is one export per year."""
    out = _datasets(holder)
    for d in out["datasets"]:
        d["file"] = folder + d["file"]
    return out


def _datasets(holder: str) -> dict:
    flag = "flag"
    if holder == "gemeente":
        return {"version": 1, "datasets": [
            {"name": "brp", "file": "brp.csv", "id_column": "bsn", "spine": True, "columns": {
                "bsn": "bsn", "voornaam": "str", "achternaam": "str", "geboortedatum": "date", "geslacht": "code",
                "postcode": "postcode", "huisnummer": "int", "buurt_code": "code", "wijk_code": "code",
                "huishouden_id": "code", "huishouden_type": "code", "moeder_werkloos": flag,
                "moeder_leeftijd_eerste_kind": "int", "huur_huurtoeslag": flag},
             "identifiers": IDENTIFIERS},
            {"name": "sociaal_domein", "file": "sociaal_domein.csv", "id_column": "bsn", "columns": {
                "bsn": "bsn", **{f: flag for f in HOLDERS["gemeente"][1:]}}}],
            "indicators": [{"name": "eenoudergezin", "dataset": "brp", "column": "huishouden_type",
                            "equals": "eenouder"},
                           {"name": "moeder_werkloos", "dataset": "brp", "column": "moeder_werkloos"},
                           {"name": "jonge_moeder", "dataset": "brp", "column": "moeder_leeftijd_eerste_kind",
                            "below": 30},
                           *({"name": f, "dataset": "sociaal_domein", "column": f} for f in HOLDERS["gemeente"][1:])]}
    if holder == "ggd":  # youth health records; survey records carry no BSN and link on identifiers
        return {"version": 1, "datasets": [{
            "name": "jgz", "file": "jgz.csv", "id_column": "bsn",
            "columns": {"jgz_id": "code", "bsn": "bsn", "voornaam": "str", "achternaam": "str", "geboortedatum": "date",
                        "geslacht": "str", "postcode": "str", "contactdatum": "date",
                        **{f: flag for f in HOLDERS[holder]}},
            "identifiers": IDENTIFIERS}],
            "indicators": [{"name": f, "dataset": "jgz", "column": f} for f in HOLDERS[holder]]}
    return {"version": 1, "datasets": [{"name": "leerlingen", "file": "leerlingen.csv", "id_column": "bsn", "columns": {
        "bsn": "bsn", "geboortedatum": "date", "brin": "code", **{f: flag for f in HOLDERS[holder]}}}],
        "indicators": [{"name": f, "dataset": "leerlingen", "column": f} for f in HOLDERS[holder]]}


def generate_federation(out_dir: Path | str, *, seed: int = 2014, period: int = 2014, scale: float = 1.0,
                        geography: Geography | None = None, years: int = 1,
                        progress: Callable[[str], None] | None = None) -> FederationInfo:
    """Write gemeente/, ggd/, school/ (CSV exports + datasets.toml) and truth/ under ``out_dir``.

    With ``years`` > 1 every holder has one export per year (``<holder>/<year>/``), ending
    at ``period``; rates follow TREND and each wijk drifts, so the index shows change.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise WijkindexError(f"{out_dir} is not empty; refusing to overwrite a federation",
                             fix="choose a new --out folder")
    if not 0 < scale <= 2:
        raise WijkindexError(f"scale must be in (0, 2], got {scale}")
    if not 1 <= years <= 10:
        raise WijkindexError(f"years must be from 1 to 10, got {years}")
    say = progress or (lambda msg: None)
    geo = geography or default_geography()
    drift_rng = np.random.default_rng([seed, 99])
    wijk_drift = {w: float(drift_rng.normal(0, WIJK_DRIFT_SD)) for w in geo.wijken["wijk_code"]}
    periods = list(range(period - years + 1, period + 1))
    folder = "{period}/" if years > 1 else ""

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".synth-", dir=out_dir.parent))
    try:
        for holder in HOLDERS:
            (tmp / holder).mkdir()
            (tmp / holder / "datasets.toml").write_text(tomli_w.dumps(_datasets_toml(holder, folder)),
                                                        encoding="utf-8")
        (tmp / "truth").mkdir()
        truths = []
        n_children = 0
        for year in periods:
            sub = f"{year}/" if years > 1 else ""
            rng = np.random.default_rng(seed if year == period else [seed, year])
            tell: Callable[[str], None] = (lambda msg, y=year: say(f"{y}: {msg}")) if years > 1 else say  # type: ignore[misc]
            n_children = _write_period(tmp, sub, geo, rng, year, period - year, wijk_drift, seed, scale, tell)
            say(f"computing the evaluation truth of {year}")
            truths.append(compute_truth(tmp, geo, year, joint=JOINT, cumulative=CUMULATIVE))
        pd.concat(truths, ignore_index=True).to_csv(tmp / "truth" / "truth.csv", index=False)
        (tmp / "truth" / "README.md").write_text(
            "# truth/\n\n**Exact figures computed centrally from every holder's files, FOR EVALUATION ONLY.** "
            "A real federation has no such file: computing it needs exactly the pooling that wijkindex avoids.\n\n"
            "`truth.csv` has the key columns of `index.csv` (period, wijk_code, age_band, indicator) with the "
            "exact numerator, denominator and rate, linked as the federation links: a child of the BRP spine "
            "counts for a source's indicator when any record with a valid BSN at that source flags it.\n",
            encoding="utf-8")
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return FederationInfo(out_dir=out_dir, period=period, n_children=n_children,
                          holders={h: list(v) for h, v in HOLDERS.items()}, gemeente_code=geo.gemeente_code,
                          joint={k: list(v) for k, v in JOINT.items()},
                          cumulative={k: list(v) for k, v in CUMULATIVE.items()}, periods=tuple(periods))


def _write_period(tmp: Path, sub: str, geo: Geography, rng: np.random.Generator, period: int, years_back: int,
                  wijk_drift: dict[str, float], seed: int, scale: float, say: Callable[[str], None]) -> int:
    """Every holder's exports of one period under ``tmp/<holder>/<sub>``; returns the number of children."""
    say("placing children in buurten")
    kids = _children(geo, rng, scale)
    say("drawing households and risk profiles")
    kids = _outcomes(_households(kids, geo, rng), rng, years_back, wijk_drift, geo.calibration)
    kids["bsn"] = _bsns(rng, len(kids))
    kids["geboortedatum"] = _birthdates(rng, kids["age"].to_numpy(), period)
    _names(kids, rng)
    _addresses(kids, geo, rng)
    kids["huishouden_id"] = ["H" + format(h, "06d") for h in kids["huishouden"]]
    spine_bsns = set(kids["bsn"])
    for holder in HOLDERS:
        (tmp / holder / sub).mkdir(parents=True, exist_ok=True)
    say("writing the gemeente's BRP extract and social-domain registrations")
    brp_cols = ["bsn", "voornaam", "achternaam", "geboortedatum", "geslacht", "postcode", "huisnummer",
                "buurt_code", "wijk_code", "huishouden_id", "huishouden_type", "moeder_werkloos",
                "moeder_leeftijd_eerste_kind", "huur_huurtoeslag"]
    kids.sample(frac=1.0, random_state=seed)[brp_cols].to_csv(tmp / "gemeente" / sub / "brp.csv", index=False)
    social = HOLDERS["gemeente"][1:]
    any_flag = kids[social].any(axis=1).to_numpy()
    keep = any_flag | (rng.random(len(kids)) < 0.4)
    kids.loc[keep, ["bsn", *social]].sample(frac=1.0, random_state=seed).to_csv(
        tmp / "gemeente" / sub / "sociaal_domein.csv", index=False)

    say("writing the GGD's youth health records")
    ggd_flags = HOLDERS["ggd"]
    ggd = _source_rows(kids, ggd_flags, rng.random(len(kids)) < 0.90, 0.08, rng,
                       extra=tuple(c for c in IDENTIFIER_COLUMNS if c != "geboortedatum"))
    ggd = pd.concat([ggd, _outsiders(kids, ggd_flags, int(0.04 * len(ggd)), (0, 17), period, rng, spine_bsns)],
                    ignore_index=True)
    ggd["postcode"] = ggd["postcode"].str.replace(r"^(\d{4})(\w\w)$", r"\1 \2", regex=True)
    ggd = pd.concat([ggd, _invalid_rows(ggd, max(1, int(0.002 * len(ggd))), rng)], ignore_index=True)
    ggd["contactdatum"] = _dates(rng, f"{period - 1}-01-01", rng.integers(0, 365, len(ggd)))
    ggd["jgz_id"] = [f"J{i:07d}" for i in rng.permutation(len(ggd))]
    ggd["geboortedatum"] = pd.to_datetime(ggd["geboortedatum"]).dt.strftime("%Y-%m-%d")
    # survey records: no BSN, identifiers typed with errors; their true BSN goes to truth/ only
    survey = rng.random(len(ggd)) < NO_BSN_SHARE
    ggd.loc[survey, ["jgz_id", "bsn"]].to_csv(tmp / "truth" / f"ggd_{period}_true_bsn.csv", index=False)
    ids = list(IDENTIFIER_COLUMNS)
    ggd.loc[survey, ids] = corrupt(ggd.loc[survey, ids], random.Random(int(rng.integers(2**31))), rate=0.6).to_numpy()
    ggd.loc[survey, "bsn"] = ""
    ggd.sample(frac=1.0, random_state=seed)[["jgz_id", "bsn", *ids, "contactdatum", *ggd_flags]].to_csv(
        tmp / "ggd" / sub / "jgz.csv", index=False)

    say("writing the school boards' pupil records")
    school_flags = HOLDERS["school"]
    age = kids["age"].to_numpy()
    covered = np.where(age >= 4, rng.random(len(kids)) < 0.97, (age >= 2) & (rng.random(len(kids)) < 0.55))
    school = _source_rows(kids, school_flags, covered, 0.05, rng)
    school = pd.concat([school, _outsiders(kids, school_flags, int(0.05 * len(school)), (4, 17), period, rng,
                                           spine_bsns)], ignore_index=True)
    school = pd.concat([school, _invalid_rows(school, max(1, int(0.002 * len(school))), rng)], ignore_index=True)
    brins = np.array([f"{rng.integers(10, 31)}{chr(65 + rng.integers(26))}{chr(65 + rng.integers(26))}"
                      for _ in range(40)])
    school["brin"] = brins[rng.integers(0, len(brins), len(school))]
    school.sample(frac=1.0, random_state=seed)[["bsn", "brin", "geboortedatum", *school_flags]].to_csv(
        tmp / "school" / sub / "leerlingen.csv", index=False)

    return len(kids)
