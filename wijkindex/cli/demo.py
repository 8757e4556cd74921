"""A whole federation on this machine."""

from __future__ import annotations

from pathlib import Path

import click

from wijkindex.cli.base import DEFAULT_GEOGRAPHY, console, main
from wijkindex.errors import WijkindexError


# ---- demo ------------------------------------------------------------------------------------

@main.command()
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="Folder for everything.")
@click.option("--seed", type=int, default=2014, show_default=True)
@click.option("--scale", type=float, default=1.0, show_default=True, help="Population fraction.")
@click.option("--epsilon", type=float, default=1.0, show_default=True, help="Privacy loss per node.")
@click.option("--years", type=click.IntRange(1, 10), default=3, show_default=True,
              help="Periods ending at 2014: earlier ones get a round of the marginal indicators, for the trend.")
@click.option("--gemeente", default=None,
              help="Any of the 342 gemeenten of 2024 by CBS code or name (GM0363, 0363, Amsterdam): the federation "
                   "is calibrated on its real CBS wijken [default: Zwolle's finer 2014 buurten]")
@click.option("--data", "data_dir", type=click.Path(path_type=Path, exists=True), default=None,
              help="Your own geography: a CBS wijk- en buurtkaart file (.gpkg, .geojson[.gz]; --gemeente picks one "
                   f"of a national file) or a folder in Zwolle-2014 form [default: {DEFAULT_GEOGRAPHY}]")
@click.option("--region", default=None,
              help="A GGD region or jeugdzorgregio (code or name: GG3316, 'GGD IJsselland'): one round per period "
                   "over all its gemeenten, each with its own BRP node, one regional GGD and school board.")
def demo(out: Path, seed: int, scale: float, epsilon: float, years: int, gemeente: str | None,
         data_dir: Path | None, region: str | None) -> None:
    """Run a whole federation on this machine: synth, PKI, aggregator, three nodes, rounds, export, report.

    The last period's round has every indicator, the joint ones and cumulative risk;
    each earlier period has a round of the marginal indicators, so the report shows trends.
    Without --gemeente the demo runs on Zwolle's 2014 buurten (78 buurten, 16 wijken);
    with --gemeente on that gemeente's 2024 CBS wijken (ages and inhabitants real, the
    per-wijk risk shares a modelled proxy of its KWB figures).

    \b
    Example:
      wijkindex demo --out demo-out
      wijkindex demo --out demo-amsterdam --gemeente GM0363 --scale 0.2
      wijkindex demo --out demo-vlieland --gemeente Vlieland
      wijkindex demo --out demo-gooi --region "GGD Gooi en Vechtstreek" --scale 0.1
      wijkindex demo --out demo-own --data wijkenbuurten_2024.gpkg --gemeente GM0193
    """
    from wijkindex.demo import run_demo, run_region_demo

    with_file = data_dir is not None and data_dir.is_file()  # --gemeente then picks the file's gemeente
    if sum(x is not None for x in (gemeente, data_dir, region)) - (with_file and gemeente is not None) > 1:
        raise WijkindexError("--gemeente, --data and --region each name a geography",
                             fix="give one of them (--gemeente beside --data only with a wijk- en buurtkaart file)")
    if region is not None:
        run_region_demo(out, region, seed=seed, scale=scale, epsilon=epsilon, years=years, console=console)
        return
    run_demo(out, seed=seed, scale=scale, epsilon=epsilon, years=years, data_dir=data_dir, gemeente=gemeente,
             console=console)
