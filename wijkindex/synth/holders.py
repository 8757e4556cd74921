"""The synthetic federation with five holders instead of three, for chains across every holder.

The gemeente's social-domain registrations are their own holder (as they are in many gemeenten:
a different system and team from the BRP), and leerplicht's verzuim registrations come out of
the school's pupil export into a leerplicht holder of their own. The records are the same ones,
so the truth of the three-holder federation is the truth of the five.
"""

from __future__ import annotations

import dataclasses
import shutil
import tomllib
from pathlib import Path

import tomli_w

from wijkindex.errors import WijkindexError
from wijkindex.synth.generator import HOLDERS, FederationInfo

SOCIAL = "sociaal-domein"  # a party name: letters, digits and "-"
LEERPLICHT = "leerplicht"
MOVED_TO_LEERPLICHT = ("verzuim",)
FIVE_HOLDERS = {
    "gemeente": [HOLDERS["gemeente"][0]],  # eenoudergezin, from the BRP
    SOCIAL: list(HOLDERS["gemeente"][1:]),
    "ggd": list(HOLDERS["ggd"]),
    "school": [i for i in HOLDERS["school"] if i not in MOVED_TO_LEERPLICHT],
    LEERPLICHT: list(MOVED_TO_LEERPLICHT),
}


def among_five(attribute: str) -> str:
    """A "holder:indicator" attribute of the three-holder federation, named at its holder of the five."""
    indicator = attribute.split(":", 1)[1]
    return next(f"{h}:{indicator}" for h, inds in FIVE_HOLDERS.items() if indicator in inds)


def _read(path: Path) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _write(folder: Path, mapping: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "datasets.toml").write_text(tomli_w.dumps(mapping), encoding="utf-8")


def five_holders(info: FederationInfo, out_dir: Path | str) -> FederationInfo:
    """Copy a one-period synthetic federation into five holder folders under ``out_dir``."""
    src, out = info.out_dir, Path(out_dir)
    if len(info.periods) > 1:
        raise WijkindexError("five_holders splits a one-period federation", fix="synthesise it with years = 1")
    if out.exists() and any(out.iterdir()):
        raise WijkindexError(f"{out} is not empty", fix="give a new folder")
    shutil.copytree(src / "ggd", out / "ggd")
    shutil.copytree(src / "truth", out / "truth")

    gemeente = _read(src / "gemeente" / "datasets.toml")
    spine = [d for d in gemeente["datasets"] if d.get("spine")]
    social = [d for d in gemeente["datasets"] if not d.get("spine")]
    for folder, datasets in (("gemeente", spine), (SOCIAL, social)):
        names = {d["name"] for d in datasets}
        _write(out / folder, {**gemeente, "datasets": datasets,
                              "indicators": [i for i in gemeente["indicators"] if i["dataset"] in names]})
        for d in datasets:
            shutil.copy2(src / "gemeente" / d["file"], out / folder / d["file"])

    school = _read(src / "school" / "datasets.toml")
    for folder, moved in (("school", False), (LEERPLICHT, True)):
        def keep(column: str, moved: bool = moved) -> bool:
            return (column in MOVED_TO_LEERPLICHT) == moved

        datasets = []
        for d in school["datasets"]:  # the same pupil export, each holder declaring only its own columns
            cols = {c: k for c, k in d["columns"].items() if k != "flag" or keep(c)}
            datasets.append({**d, "columns": cols})
        _write(out / folder, {**school, "datasets": datasets,
                              "indicators": [i for i in school["indicators"] if keep(i["name"])]})
        for d in school["datasets"]:
            shutil.copy2(src / "school" / d["file"], out / folder / d["file"])
    return dataclasses.replace(info, out_dir=out, holders={h: list(v) for h, v in FIVE_HOLDERS.items()},
                               joint={}, cumulative={})
