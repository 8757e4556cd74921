"""The exact per-cell figures, computed centrally from every holder's files: FOR EVALUATION ONLY.

Read with plain pandas and the holders' own datasets.toml, independently of the
protocol code, so tests and benchmarks can check the federated result against it.
Linkage semantics are the federation's: a spine child counts for a source indicator
when any record with a valid BSN at that source flags it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from wijkindex.catalogue import SCOPES
from wijkindex.geography import Geography

DEFAULT_BANDS = ((0, 3, "0-3"), (4, 11, "4-11"), (12, 17, "12-17"))
_TRUE = {"1", "true", "ja", "j", "yes", "y"}
_WEIGHTS = np.array([9, 8, 7, 6, 5, 4, 3, 2, -1])


def _valid_bsn(col: pd.Series) -> np.ndarray:
    s = col.astype(str).str.strip().str.zfill(9)
    ok = s.str.fullmatch(r"\d{9}").to_numpy() & (s != "000000000").to_numpy()
    digits = np.array([[int(ch) for ch in v] if good else [0] * 9 for v, good in zip(s, ok)]).reshape(-1, 9)
    return ok & ((digits @ _WEIGHTS) % 11 == 0)


def compute_truth(federation_dir: Path | str, geography: Geography, period: int,
                  age_bands: Sequence[tuple[int, int, str]] = DEFAULT_BANDS,
                  joint: Mapping[str, Sequence[str]] | None = None,
                  cumulative: Mapping[str, Sequence[str]] | None = None, cap: int = 3,
                  scopes: Mapping[str, tuple[str, int, int]] | None = None) -> pd.DataFrame:
    """Marginal indicators of every holder, joint ones ("node:indicator" lists: all must hold) and
    cumulative ones (how many of the listed attributes a child has: name_0 .. name_{cap}plus).

    ``scopes`` (default: the catalogue's) give an indicator's population and ages as a spec does:
    its numerator counts records of a child of those ages (a source's record's birth date, the
    spine's at the spine), its denominator is every spine child, the spine children linked to a
    record of its holder of those ages, or the children of a sub-population indicator; bands
    outside its ages get no row."""
    scopes = dict(SCOPES if scopes is None else scopes)
    federation_dir = Path(federation_dir)
    def export(holder_dir: Path, file: str) -> Path:
        return holder_dir / file.replace("{period}", str(period))

    gemeente = tomllib.loads((federation_dir / "gemeente" / "datasets.toml").read_text(encoding="utf-8"))
    spine_file = next(d["file"] for d in gemeente["datasets"] if d.get("spine"))
    spine = pd.read_csv(export(federation_dir / "gemeente", spine_file), dtype=str, keep_default_na=False)
    spine = spine[_valid_bsn(spine["bsn"])].drop_duplicates("bsn")
    born = pd.to_datetime(spine["geboortedatum"])
    age = period - born.dt.year - ((born.dt.month > 1) | (born.dt.day > 1)).astype(int)
    spine = spine.assign(age_band=pd.NA)
    for low, high, label in age_bands:
        spine.loc[(age >= low).to_numpy() & (age <= high).to_numpy(), "age_band"] = label
    spine = spine.assign(age=age.to_numpy())[spine["age_band"].notna()]
    spine_age = dict(zip(spine["bsn"], spine["age"]))
    band_span = {label: (low, high) for low, high, label in age_bands}

    flagged: dict[tuple[str, str], set[str]] = {}
    denominators: dict[str, set[str] | None] = {}  # indicator -> its population's ids (None: every child)
    for holder_dir in sorted(p for p in federation_dir.iterdir() if (p / "datasets.toml").exists()):
        spec = tomllib.loads((holder_dir / "datasets.toml").read_text(encoding="utf-8"))
        frames = {}
        for ds in spec["datasets"]:
            df = pd.read_csv(export(holder_dir, ds["file"]), dtype=str, keep_default_na=False)
            # records without a BSN (linked fuzzily by the federation) count under their true BSN
            true_ids = federation_dir / "truth" / f"{holder_dir.name}_{period}_true_bsn.csv"
            if true_ids.exists():
                known = pd.read_csv(true_ids, dtype=str, keep_default_na=False)
                key = known.columns[0]
                fill = df[key].map(dict(zip(known[key], known["bsn"])))
                df[ds["id_column"]] = fill.where(fill.notna(), df[ds["id_column"]])
            frames[ds["name"]] = (df[_valid_bsn(df[ds["id_column"]])], ds["id_column"])
        is_spine = any(ds.get("spine") for ds in spec["datasets"])
        dates = {ds["name"]: next((c for c, k in ds.get("identifiers", {}).items() if k == "date"), "geboortedatum")
                 for ds in spec["datasets"]}

        def of_ages(df: pd.DataFrame, dataset: str, low: int, high: int) -> np.ndarray:
            born = pd.to_datetime(df[dates[dataset]], errors="coerce")
            rec_age = period - born.dt.year - ((born.dt.month > 1) | (born.dt.day > 1)).astype(int)
            return ((rec_age >= low) & (rec_age <= high)).to_numpy()

        indicators = spec.get("indicators", [])
        for ind in sorted(indicators, key=lambda i: scopes.get(i["name"], ("all",))[0] not in ("all", "source")):
            df, id_col = frames[ind["dataset"]]
            col = df[ind["column"]].str.strip().str.lower()
            if "equals" in ind:
                hit = (col == ind["equals"].lower()).to_numpy()
            elif "below" in ind:
                hit = (pd.to_numeric(col, errors="coerce") < ind["below"]).to_numpy()
            else:
                hit = col.isin(_TRUE).to_numpy()
            population, low, high = scopes.get(ind["name"], ("all", 0, 17))
            if (low, high) != (0, 17) and not is_spine:
                hit = hit & of_ages(df, ind["dataset"], low, high)
            ids = set(df.loc[hit, id_col].str.zfill(9))
            if (low, high) != (0, 17) and is_spine:
                ids = {i for i in ids if low <= spine_age.get(i, -1) <= high}
            if population == "source":
                linked = [set(d.loc[of_ages(d, name, low, high), c].str.zfill(9)) for name, (d, c) in frames.items()
                          if name in {i["dataset"] for i in indicators if scopes.get(i["name"], ("all",))[0] == "source"}]
                denominators[ind["name"]] = set.union(*linked) & set(spine["bsn"])
            elif population == "all":
                whole = all(low <= b[0] and b[1] <= high for b in band_span.values() if b[0] <= high and low <= b[1])
                denominators[ind["name"]] = None if whole else {i for i, a in spine_age.items() if low <= a <= high}
            else:
                ids &= flagged[(holder_dir.name, population)]
                denominators[ind["name"]] = flagged[(holder_dir.name, population)]
            flagged[(holder_dir.name, ind["name"])] = ids

    ages_of: dict[str, tuple[int, int]] = {}
    for name, attrs in (joint or {}).items():
        sets = [flagged[tuple(a.split(":", 1))] for a in attrs]  # type: ignore[index]
        parties = list(dict.fromkeys(a.split(":", 1)[0] for a in attrs))
        flagged[("+".join(parties), name)] = set.intersection(*sets)
        spans = [scopes.get(a.split(":", 1)[1], ("all", 0, 17))[1:] for a in attrs]
        ages_of[name] = (max(s[0] for s in spans), min(s[1] for s in spans))
    for name, attrs in (cumulative or {}).items():
        parties = list(dict.fromkeys(a.split(":", 1)[0] for a in attrs))
        counts: dict[str, int] = {}
        for a in attrs:
            for i in flagged[tuple(a.split(":", 1))]:  # type: ignore[index]
                counts[i] = counts.get(i, 0) + 1
        for k in range(cap + 1):
            label = f"{name}_{k}" if k < cap else f"{name}_{cap}plus"
            if k == 0:
                ids = set(spine["bsn"]) - set(counts)
            else:
                ids = {i for i, c in counts.items() if (c == k if k < cap else c >= cap)}
            flagged[("+".join(parties), label)] = ids
    wijken = geography.wijken.sort_values("wijk_code")
    rows = []
    for (source, indicator), ids in flagged.items():
        hit = spine["bsn"].isin(ids)
        pop = denominators.get(indicator)
        of_pop = spine["bsn"].isin(pop) if pop is not None else pd.Series(True, index=spine.index)
        low, high = ages_of.get(indicator) or scopes.get(indicator, ("all", 0, 17))[1:]
        for band in [b[2] for b in age_bands if b[0] <= high and low <= b[1]]:
            in_band = (spine["age_band"] == band) & of_pop
            for w in wijken.itertuples():
                cell = in_band & (spine["wijk_code"] == w.wijk_code)
                rows.append((w.wijk_code, w.wijk_name, band, indicator, source, int((cell & hit).sum()), int(cell.sum())))
            rows.append((geography.gemeente_code, geography.gemeente_name, band, indicator, source,
                         int((in_band & hit).sum()), int(in_band.sum())))
    out = pd.DataFrame(rows, columns=["wijk_code", "wijk_name", "age_band", "indicator", "source",
                                      "numerator", "denominator"])
    out["rate"] = np.where(out["denominator"] > 0, out["numerator"] / out["denominator"].where(out["denominator"] > 0),
                           np.nan)
    out.insert(0, "period", period)
    out.insert(1, "gemeente_code", geography.gemeente_code)
    return out
