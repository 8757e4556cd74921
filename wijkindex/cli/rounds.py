"""The coordinator's rounds and the researcher's results and report."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from wijkindex.cli.base import console, json_option, main, out, print_json



# ---- coordinator -------------------------------------------------------------------------

def _client(config_path: Path):  # type: ignore[no-untyped-def]
    from wijkindex.clients import AggregatorClient
    from wijkindex.config import load_client_config

    return AggregatorClient.from_config(load_client_config(config_path))


@main.group(name="round")
def round_() -> None:
    """Launch, follow and cancel linkage rounds (coordinator).

    \b
    Example:
      wijkindex round start --spec round.toml --config coordinator.toml --wait
      wijkindex round status gm0193-2014-1a2b3c4d --config coordinator.toml --json
      wijkindex round cancel gm0193-2014-1a2b3c4d --config coordinator.toml --reason "wrong period"
    """


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
            _print_status(status, to=console)


def follow_round(client, round_id: str, timeout: float = 1800.0):  # type: ignore[no-untyped-def]
    """Follow a round with a live line per node until it ends."""
    with console.status(f"round {round_id}") as live:
        def show(s) -> None:  # type: ignore[no-untyped-def]
            live.update(f"round {round_id}: {s.state} | " + ", ".join(f"{n.party} {n.state}" for n in s.nodes))
        return client.wait_round(round_id, timeout=timeout, on_status=show)


def _print_status(s, to=out) -> None:  # type: ignore[no-untyped-def]
    """A round's state, nodes and costs, on stdout (``to``: stderr after `round start`, whose data is the id)."""
    colour = {"completed": "green", "failed": "red"}.get(s.state, "yellow")
    to.print(f"round [bold]{s.round_id}[/]: [{colour}]{s.state}[/] {s.reason}", highlight=False)
    table = Table("node", "state", "detail", "epsilon released", "noise scale", "joint scale")
    costs = {c.party: c for c in s.costs}
    for n in s.nodes:
        c = costs.get(n.party)
        table.add_row(n.party, n.state, n.detail, f"{c.epsilon:g}" if c else "", f"{c.scale:g}" if c else "",
                      f"{c.joint_scale:g}" if c and c.joint_d_in else "")
    to.print(table)
    if s.costs:
        to.print(f"privacy loss of a child held by every node this round: epsilon {s.per_child_epsilon:g}; "
                      "the spine's population dataset is charged that sum (its cells shape every release), "
                      "each other dataset its own node's epsilon (docs/privacy.md)")
    elif s.state == "failed":
        to.print("no node released anything in this round, so no node was charged")


@round_.command("status")
@click.argument("round_id")
@click.option("--config", "config_path", type=click.Path(path_type=Path, exists=True), required=True)
@json_option
def round_status(round_id: str, config_path: Path, as_json: bool) -> None:
    """Show a round's state, each node's progress and what it cost.

    \b
    Example:
      wijkindex round status gm0193-2014-1a2b3c4d --config coordinator.toml
      wijkindex round status gm0193-2014-1a2b3c4d --config coordinator.toml --json | jq .state
    """
    with _client(config_path) as client:
        status = client.round_status(round_id)
    print_json(status) if as_json else _print_status(status)


@round_.command("cancel")
@click.argument("round_id")
@click.option("--config", "config_path", type=click.Path(path_type=Path, exists=True), required=True,
              help="The config of the coordinator who started the round.")
@click.option("--reason", default="", help="Why, for the round's record (shown with its state).")
@json_option
def round_cancel(round_id: str, config_path: Path, reason: str, as_json: bool) -> None:
    """End an open round as failed. The aggregator deletes its key and relays and sends no node
    another task; a node that had already released stays charged for it (the status says which).

    \b
    Example:
      wijkindex round cancel gm0193-2014-1a2b3c4d --config coordinator.toml --reason "wrong period"
    """
    with _client(config_path) as client:
        status = client.cancel_round(round_id, reason)
    print_json(status) if as_json else _print_status(status)


# ---- researcher ------------------------------------------------------------------------------

@main.group()
def results() -> None:
    """Read noised results (researcher).

    \b
    Example:
      wijkindex results list --config researcher.toml
      wijkindex results export gm0193-2014-1a2b3c4d --out results --config researcher.toml
    """


@results.command("list")
@click.option("--config", "config_path", type=click.Path(path_type=Path, exists=True), required=True)
@json_option
def results_list(config_path: Path, as_json: bool) -> None:
    """List rounds and their states.

    \b
    Example:
      wijkindex results list --config researcher.toml
      wijkindex results list --config researcher.toml --json > rounds.json
    """
    with _client(config_path) as client:
        rounds = client.list_rounds()
    if as_json:
        print_json(rounds)
        return
    table = Table("round", "state", "period", "gemeente", "updated")
    for s in rounds:
        table.add_row(s.round_id, s.state, str(s.period), s.gemeente_code, s.updated_at)
    out.print(table)


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
