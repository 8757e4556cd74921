"""The coordinator's rounds and the researcher's results and report."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from wijkindex.cli.base import console, main



# ---- coordinator -------------------------------------------------------------------------

def _client(config_path: Path):  # type: ignore[no-untyped-def]
    from wijkindex.clients import AggregatorClient
    from wijkindex.config import load_client_config

    return AggregatorClient.from_config(load_client_config(config_path))


@main.group(name="round")
def round_() -> None:
    """Launch and follow linkage rounds (coordinator)."""


@round_.command("start")
@click.option("--spec", "spec_path", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--config", "config_path", type=click.Path(path_type=Path, exists=True), required=True,
              help="Coordinator client config (aggregator address and TLS files).")
@click.option("--wait/--no-wait", default=False, help="Follow the round until it ends.")
def round_start(spec_path: Path, config_path: Path, wait: bool) -> None:
    """Validate and submit a round spec; prints the round id.

    \b
    Example:
      wijkindex round start --spec round.toml --config coordinator.toml --wait
    """
    from wijkindex.protocol.spec import RoundSpec

    text = spec_path.read_text(encoding="utf-8")
    RoundSpec.from_toml(text, source=str(spec_path))  # fail here, before the network, on a bad spec
    with _client(config_path) as client:
        round_id = client.submit_round(text)
        click.echo(round_id)
        if wait:
            status = follow_round(client, round_id)
            _print_status(status)


def follow_round(client, round_id: str, timeout: float = 1800.0):  # type: ignore[no-untyped-def]
    """Follow a round with a live line per node until it ends."""
    with console.status(f"round {round_id}") as live:
        def show(s) -> None:  # type: ignore[no-untyped-def]
            live.update(f"round {round_id}: {s.state} | " + ", ".join(f"{n.party} {n.state}" for n in s.nodes))
        return client.wait_round(round_id, timeout=timeout, on_status=show)


def _print_status(s) -> None:  # type: ignore[no-untyped-def]
    colour = {"completed": "green", "failed": "red"}.get(s.state, "yellow")
    console.print(f"round [bold]{s.round_id}[/]: [{colour}]{s.state}[/] {s.reason}")
    table = Table("node", "state", "detail", "epsilon released", "noise scale", "joint scale")
    costs = {c.party: c for c in s.costs}
    for n in s.nodes:
        c = costs.get(n.party)
        table.add_row(n.party, n.state, n.detail, f"{c.epsilon:g}" if c else "", f"{c.scale:g}" if c else "",
                      f"{c.joint_scale:g}" if c and c.joint_d_in else "")
    console.print(table)
    if s.costs:
        console.print(f"privacy loss of a child held by every node this round: epsilon {s.per_child_epsilon:g}; "
                      "the spine's population dataset is charged that sum (its cells shape every release), "
                      "each other dataset its own node's epsilon (docs/privacy.md)")
    elif s.state == "failed":
        console.print("no node released anything in this round, so no node was charged")


@round_.command("status")
@click.argument("round_id")
@click.option("--config", "config_path", type=click.Path(path_type=Path, exists=True), required=True)
def round_status(round_id: str, config_path: Path) -> None:
    """Show a round's state, each node's progress and what it cost.

    \b
    Example:
      wijkindex round status gm0193-2014-1a2b3c4d --config coordinator.toml
    """
    with _client(config_path) as client:
        _print_status(client.round_status(round_id))


# ---- researcher ------------------------------------------------------------------------------

@main.group()
def results() -> None:
    """Read noised results (researcher)."""


@results.command("list")
@click.option("--config", "config_path", type=click.Path(path_type=Path, exists=True), required=True)
def results_list(config_path: Path) -> None:
    """List rounds and their states.

    \b
    Example:
      wijkindex results list --config researcher.toml
    """
    with _client(config_path) as client:
        table = Table("round", "state", "period", "gemeente", "updated")
        for s in client.list_rounds():
            table.add_row(s.round_id, s.state, str(s.period), s.gemeente_code, s.updated_at)
        console.print(table)


@results.command("export")
@click.argument("round_id")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True)
@click.option("--config", "config_path", type=click.Path(path_type=Path, exists=True), required=True)
def results_export(round_id: str, out: Path, config_path: Path) -> None:
    """Write a completed round's index (index.csv, index.parquet) and what follows from it
    (composite.csv: domain scores; relative_risk.csv: from the joint indicators' 2x2 tables;
    reference.csv: CBS figures; pooled.csv: the federation's national, regional and peer figures
    summed from every completed round of the period, also rows of index.csv).

    \b
    Example:
      wijkindex results export gm0193-2014-1a2b3c4d --out results --config researcher.toml
    """
    from wijkindex.clients import export_index

    with _client(config_path) as client:
        paths = export_index(client, round_id, out)
    for p in paths:
        console.print(f"[green]wrote[/] {p}")


@main.command()
@click.argument("round_id")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True)
@click.option("--config", "config_path", type=click.Path(path_type=Path, exists=True), required=True,
              help="Researcher client config.")
@click.option("--index-definition", type=click.Path(path_type=Path, exists=True), default=None,
              help="TOML with the domains and weights of the composite scores [default: the built-in 0-17 index]")
@click.option("--data", "data_dir", type=click.Path(path_type=Path, exists=True), default=None,
              help="Geometry for the map: a CBS wijk- en buurtkaart file (.gpkg, .geojson[.gz]) or a folder in "
                   "Zwolle-2014 form [default: the round's gemeente: Zwolle 2014 for GM0193, else its CBS 2024 wijken]")
@click.option("--gemeente", default=None, help="Draw this CBS gemeente's 2024 wijken (code or name) on the map; "
                                                "with --data FILE, this gemeente of the file.")
def report(round_id: str, out: Path, config_path: Path, index_definition: Path | None, data_dir: Path | None,
           gemeente: str | None) -> None:
    """Write report.html (map, bars, composite scores, tables with CSV downloads) and the tables.

    \b
    Example:
      wijkindex report gm0193-2014-1a2b3c4d --out results --config researcher.toml
      wijkindex report gm0363-2014-5e6f7a8b --out results --config researcher.toml --gemeente GM0363
    """
    from wijkindex.clients import write_report

    with _client(config_path) as client:
        paths = write_report(client, round_id, out, index_definition=index_definition, data_dir=data_dir,
                             gemeente=gemeente)
    for p in paths:
        console.print(f"[green]wrote[/] {p}")
