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

from wijkindex.geo import Geography

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
                  cumulative: Mapping[str, Sequence[str]] | None = None, cap: int = 3) -> pd.DataFrame:
    """Marginal indicators of every holder, joint ones ("node:indicator" lists: all must hold) and
    cumulative ones (how many of the listed attributes a child has: name_0 .. name_{cap}plus)."""
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
    spine = spine[spine["age_band"].notna()]

    flagged: dict[tuple[str, str], set[str]] = {}
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
        for ind in spec.get("indicators", []):
            df, id_col = frames[ind["dataset"]]
            col = df[ind["column"]].str.strip().str.lower()
            if "equals" in ind:
                hit = col == ind["equals"].lower()
            elif "below" in ind:
                hit = pd.to_numeric(col, errors="coerce") < ind["below"]
            else:
                hit = col.isin(_TRUE)
            flagged[(holder_dir.name, ind["name"])] = set(df.loc[hit.to_numpy(), id_col].str.zfill(9))

    for name, attrs in (joint or {}).items():
        sets = [flagged[tuple(a.split(":", 1))] for a in attrs]  # type: ignore[index]
        parties = list(dict.fromkeys(a.split(":", 1)[0] for a in attrs))
        flagged[("+".join(parties), name)] = set.intersection(*sets)
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
        for band in [b[2] for b in age_bands]:
            in_band = spine["age_band"] == band
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
