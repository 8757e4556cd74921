"""A synthetic region: several gemeenten, each with its own BRP node, and regional holders.

The children of every gemeente are drawn at once over the gemeenten's combined areas
(``geography.combine``), so that one GGD and one school board hold records of children of
several gemeenten, as a GGD region and a regional school board do. The gemeente holder's
exports (BRP extract and social-domain registrations) are then split per gemeente by the
child's wijk: ``spine-<GMxxxx>/`` is that gemeente's BRP node, the spine of its own children.
The truth (``truth/truth.csv``) has every wijk's exact figures; a gemeente's are their sums.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from wijkindex.errors import WijkindexError
from wijkindex.geography.base import Geography, combine, gemeente_of_area
from wijkindex.synth.generator import FederationInfo, generate_federation

SPINE_HOLDER = "gemeente"  # the generator's holder whose exports are split per gemeente


@dataclass
class RegionInfo:
    """A generated region: ``federation`` (holders as the generator writes them, the gemeente
    holder replaced by ``spines``: gemeente code -> holder folder) and the region's identity."""

    federation: FederationInfo
    code: str
    name: str
    spines: dict[str, str]
    geographies: tuple[Geography, ...]

    def _at_spines(self, table: dict[str, list[str]]) -> dict[str, list[str]]:
        """Joint attributes of the gemeente holder named at the first spine (a region spec's
        spine attributes are every spine's)."""
        first = next(iter(self.spines.values()))
        return {k: [first + a[len(SPINE_HOLDER):] if a.startswith(SPINE_HOLDER + ":") else a for a in attrs]
                for k, attrs in table.items()}

    @property
    def joint(self) -> dict[str, list[str]]:
        return self._at_spines(self.federation.joint)

    @property
    def cumulative(self) -> dict[str, list[str]]:
        return self._at_spines(self.federation.cumulative)

    @property
    def holders(self) -> dict[str, list[str]]:
        """Holder folder -> indicators: every spine asks the gemeente holder's indicators."""
        h = self.federation.holders
        return {**{folder: list(h[SPINE_HOLDER]) for folder in self.spines.values()},
                **{k: v for k, v in h.items() if k != SPINE_HOLDER}}


def spine_folder(gemeente_code: str) -> str:
    return f"spine-{gemeente_code.lower()}"


def generate_region(out_dir: Path | str, geographies: Sequence[Geography], *, code: str, name: str,
                    seed: int = 2014, period: int = 2014, scale: float = 1.0, years: int = 1,
                    progress: Callable[[str], None] | None = None) -> RegionInfo:
    """Write ``spine-<gm>/`` per gemeente, the regional holders (``ggd/``, ``school/``) and
    ``truth/`` under ``out_dir``."""
    if len(geographies) < 2:
        raise WijkindexError("a region has at least two gemeenten", fix="name two or more gemeenten")
    out = Path(out_dir)
    geo = combine(geographies, code, name)
    info = generate_federation(out, seed=seed, period=period, scale=scale, geography=geo, years=years,
                               progress=progress)
    src = out / SPINE_HOLDER
    spines = {g.gemeente_code: spine_folder(g.gemeente_code) for g in geographies}
    for gm, folder in spines.items():
        (out / folder).mkdir()
        shutil.copy(src / "datasets.toml", out / folder / "datasets.toml")
    for brp in sorted(src.rglob("brp.csv")):  # one per period
        sub = brp.parent.relative_to(src)
        people = pd.read_csv(brp, dtype=str, keep_default_na=False)
        social = pd.read_csv(brp.parent / "sociaal_domein.csv", dtype=str, keep_default_na=False)
        of = people["wijk_code"].map(gemeente_of_area)
        for gm, folder in spines.items():
            target = out / folder / sub
            target.mkdir(parents=True, exist_ok=True)
            mine = people[of == gm]
            mine.to_csv(target / "brp.csv", index=False)
            social[social["bsn"].isin(set(mine["bsn"]))].to_csv(target / "sociaal_domein.csv", index=False)
    shutil.rmtree(src)
    return RegionInfo(info, code, name, spines, tuple(geographies))
