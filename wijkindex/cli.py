"""The ``wijkindex`` command: one subcommand per role and task, each with an example."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Callable

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from wijkindex.errors import WijkindexError

console = Console(stderr=True)
DEFAULT_GEOGRAPHY = "the shipped default geography, Zwolle's 2014 buurten"  # = geography.default_geography()


def _logging(verbose: bool) -> None:
    """Rich output for a person at a terminal; plain timestamped lines for log files and services."""
    level = logging.DEBUG if verbose else logging.INFO
    if console.is_terminal:
        logging.basicConfig(level=level, format="%(name)s: %(message)s", force=True,
                            handlers=[RichHandler(console=console, show_path=False, rich_tracebacks=False)])
    else:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    logging.getLogger("grpc").setLevel(logging.WARNING)


class _Group(click.Group):
    """Turns our numbered errors into one readable message and exit code 2, not a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except WijkindexError as exc:
            console.print(f"[bold red]error[/] {exc}", highlight=False)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """wijkindex: link children's records across data holders without pooling them, and
    publish a differentially private wijk index.

    \b
    Quick start (a whole federation on this machine):
      wijkindex demo --out demo-out
    """
    _logging(verbose)


# ---- synth ------------------------------------------------------------------------------

@main.command()
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="Folder to create.")
@click.option("--seed", type=int, default=2014, show_default=True)
@click.option("--period", type=int, default=2014, show_default=True, help="Reference year (1 January).")
@click.option("--scale", type=float, default=1.0, show_default=True, help="Population fraction (0.05 for tests).")
@click.option("--years", type=click.IntRange(1, 10), default=1, show_default=True,
              help="Consecutive years ending at --period, one export per year in <holder>/<year>/ (for trends).")
@click.option("--gemeente", default=None,
              help="A CBS gemeente (code or name) instead of Zwolle 2014; with --data FILE, the gemeente of that file.")
@click.option("--data", "data_dir", type=click.Path(path_type=Path, exists=True), default=None,
              help="Your own geography: a CBS wijk- en buurtkaart file (.gpkg, .geojson[.gz]) or a folder in "
                   f"Zwolle-2014 form [default: {DEFAULT_GEOGRAPHY}]")
def synth(out: Path, seed: int, period: int, scale: float, years: int, gemeente: str | None,
          data_dir: Path | None) -> None:
    """Write a synthetic federation on a real geography: one folder per holder, plus truth/.

    \b
    Example:
      wijkindex synth --out federation --seed 7
      wijkindex synth --out federation --years 3 --period 2014   # 2012, 2013 and 2014
      wijkindex synth --out federation --gemeente Amsterdam --scale 0.1
      wijkindex synth --out federation --data wijkenbuurten_2024.gpkg --gemeente GM0193
    """
    from wijkindex.geography import geography_for
    from wijkindex.synth.generator import generate_federation

    geo = geography_for(data_dir, gemeente)
    with console.status("generating the synthetic federation") as status:
        info = generate_federation(out, seed=seed, period=period, scale=scale, geography=geo, years=years,
                                   progress=lambda msg: status.update(msg))
    console.print(f"[green]wrote[/] {out}: {info.n_children:,} children in {geo.gemeente_name}; "
                  f"holders: " + ", ".join(f"{h} ({len(i)} indicators)" for h, i in info.holders.items()))
    console.print(f"  {out}/truth/ holds exact figures FOR EVALUATION ONLY")


# ---- pki and secrets ------------------------------------------------------------------------

@main.group()
def pki() -> None:
    """Development certificates for every party."""


@pki.command("init")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--node", "nodes", multiple=True, default=("gemeente", "ggd", "school"), show_default=True,
              help="A node party name (repeat).")
@click.option("--host", "hosts", multiple=True, default=("localhost", "127.0.0.1"), show_default=True,
              help="A name the aggregator is reached by (repeat).")
@click.option("--days", type=int, default=365, show_default=True)
def pki_init(directory: Path, nodes: tuple[str, ...], hosts: tuple[str, ...], days: int) -> None:
    """Create a development CA and one certificate per party (role and party in a SAN URI).

    \b
    Example:
      wijkindex pki init pki --node gemeente --node ggd --node school
    """
    from wijkindex.security.pki import init_pki

    creds = init_pki(directory, nodes=nodes, hostnames=hosts, valid_days=days)
    table = Table("party", "identity", "certificate")
    for party, c in creds.items():
        table.add_row(party, c.identity.uri, str(c.cert_path))
    console.print(table)


@pki.command("revoke")
@click.argument("directory", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.argument("party")
@click.option("--days", type=click.IntRange(1, 366), default=30, show_default=True,
              help="The list's validity: parties refuse it after this (its nextUpdate).")
def pki_revoke(directory: Path, party: str, days: int) -> None:
    """Revoke PARTY's certificate: add it to the CA's revocation list DIRECTORY/crl.pem.

    The aggregator and nodes whose config names the list (`crl = ...`) refuse the certificate
    from their next call on, without a restart. Issue the party a new certificate afterwards.
    The list is valid for --days; re-sign it before then with `wijkindex pki crl`.

    \b
    Example:
      wijkindex pki revoke pki researcher
    """
    from wijkindex.security.revocation import revoke

    cert = directory / party / "cert.pem"
    if not cert.exists():
        raise click.BadParameter(f"{cert} does not exist", param_hint="PARTY")
    path = revoke(directory, cert, valid_days=days)
    console.print(f"revoked the certificate of {party}; revocation list: {path} (valid {days} days)")


@pki.command("crl")
@click.argument("directory", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--days", type=click.IntRange(1, 366), default=30, show_default=True,
              help="The list's validity: parties refuse it after this (its nextUpdate).")
def pki_crl(directory: Path, days: int) -> None:
    """Re-sign the CA's revocation list DIRECTORY/crl.pem with a fresh validity (same entries;
    an empty list if there is none yet). Every party that names the list refuses it once it
    has expired, so run this well before then (e.g. weekly) and copy the list to the parties.

    \b
    Example:
      wijkindex pki crl pki --days 30
    """
    from wijkindex.security.revocation import publish_crl

    path = publish_crl(directory, valid_days=days)
    console.print(f"signed {path}, valid for {days} days")


@main.group()
def secret() -> None:
    """The federation linkage secret shared by the data holders."""


@secret.command("new")
@click.argument("path", type=click.Path(path_type=Path))
def secret_new(path: Path) -> None:
    """Write a new 256-bit linkage secret (mode 0600). Give the same file to every node.

    \b
    Example:
      wijkindex secret new secrets/linkage.key
    """
    from wijkindex.linkage.pseudonym import LinkageSecret

    path.parent.mkdir(parents=True, exist_ok=True)
    s = LinkageSecret.generate()
    s.write(path)
    console.print(f"[green]wrote[/] {path} (fingerprint {s.fingerprint()})")


# ---- linkage ---------------------------------------------------------------------------

@main.group()
def linkage() -> None:
    """Fuzzy linkage on keyed encodings: evaluate it on files with known links."""


@linkage.command("evaluate")
@click.argument("file_a", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.argument("file_b", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--entity", "entity", default="entity_id", show_default=True,
              help="Column holding the true entity id in both files (rows with equal ids are a true link).")
@click.option("--entity-a", default=None, help="The entity column of FILE_A, if it differs.")
@click.option("--entity-b", default=None, help="The entity column of FILE_B, if it differs.")
@click.option("--schema", "schema_name", default="dutch-child", show_default=True,
              help="A built-in schema (dutch-child, febrl) or a TOML file with [[field]] tables.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=None,
              help="A fixed Dice threshold instead of the automatic (EM) one.")
def linkage_evaluate(file_a: Path, file_b: Path, entity: str, entity_a: str | None, entity_b: str | None,
                     schema_name: str, threshold: float | None) -> None:
    """Encode both files under a throw-away key, link them, and print precision, recall, F1 and speed.

    \b
    Example:
      wijkindex linkage evaluate spine.csv ggd.csv --entity child_id
      wijkindex linkage evaluate febrl_a.csv febrl_b.csv --schema febrl --entity rec_id
    """
    import tomllib

    from rich.table import Table

    from wijkindex.linkage.encoding import SCHEMAS, schema_from_mapping
    from wijkindex.linkage.evaluate import evaluate_files

    if schema_name in SCHEMAS:
        schema = SCHEMAS[schema_name]
    else:
        path = Path(schema_name)
        if not path.is_file():
            raise click.BadParameter(f"neither a built-in schema ({', '.join(SCHEMAS)}) nor a file",
                                     param_hint="--schema")
        try:
            schema = schema_from_mapping(tomllib.loads(path.read_text(encoding="utf-8")), source=str(path))
        except (tomllib.TOMLDecodeError, ValueError) as exc:
            raise click.BadParameter(str(exc), param_hint="--schema") from None
    with console.status("encoding and linking"):
        ev = evaluate_files(file_a, file_b, schema, entity_a=entity_a or entity, entity_b=entity_b or entity,
                            threshold=threshold)
    table = Table(title=f"{file_a.name} x {file_b.name}", show_header=False)
    for k, v in ev.rows():
        table.add_row(k, v)
    console.print(table)


# ---- services ------------------------------------------------------------------------------

def _serve_until_signal(stop: Callable[[], None]) -> None:
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    stop()


@main.group()
def aggregator() -> None:
    """The aggregator service."""


@aggregator.command("serve")
@click.option("--config", "config_path", type=click.Path(path_type=Path, exists=True), required=True)
def aggregator_serve(config_path: Path) -> None:
    """Serve rounds, relay and results over mutual TLS until stopped (Ctrl-C / SIGTERM).

    \b
    Example:
      wijkindex aggregator serve --config aggregator.toml
    """
    from wijkindex.aggregator.server import start_aggregator
    from wijkindex.config import load_aggregator_config

    running = start_aggregator(load_aggregator_config(config_path))
    console.print(f"aggregator serving on port {running.port}")
    _serve_until_signal(running.stop)


@main.group()
def node() -> None:
    """A data holder's node."""


@node.command("serve")
@click.option("--config", "config_path", type=click.Path(path_type=Path, exists=True), required=True)
def node_serve(config_path: Path) -> None:
    """Dial out to the aggregator and take part in rounds until stopped (no inbound port).

    \b
    Example:
      wijkindex node serve --config node-ggd.toml
    """
    from wijkindex.config import load_node_config
    from wijkindex.nodes.node import Node

    n = Node(load_node_config(config_path))
    thread = threading.Thread(target=n.run, name=f"node-{n.name}", daemon=True)
    thread.start()
    _serve_until_signal(n.stop)


@node.command("check")
@click.option("--config", "config_path", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--period", type=click.IntRange(1900, 2200), default=None,
              help="The period whose exports to read (a file named with {period}) [default: last year].")
@click.option("--report", "report_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also write the report here: .html for a page, anything else for text [default: none].")
def node_check(config_path: Path, period: int | None, report_path: Path | None) -> None:
    """Read every dataset the node serves through its mapping, as a round would, and report what
    was read, excluded and why (with the first row numbers), ages out of range, each indicator's
    share, and which indicators of the default index this node serves. Nothing is sent anywhere.
    Exit status 1 if a file cannot be read at all.

    \b
    Example:
      wijkindex node check --config node-ggd.toml --period 2014 --report check-2014.html
    """
    import datetime

    from wijkindex.config import load_node_config
    from wijkindex.nodes.check import check_node, render_text, write_report

    result = check_node(load_node_config(config_path), period or datetime.date.today().year - 1)
    click.echo(render_text(result), nl=False)
    if report_path is not None:
        click.echo(f"report written to {write_report(result, report_path)}")
    if not result.ok:
        raise SystemExit(1)


@main.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path, exists=True), required=True,
              help="An aggregator, node, coordinator or researcher config.")
@click.option("--timeout", type=click.FloatRange(0.5, 600), default=5.0, show_default=True)
def health(config_path: Path, timeout: float) -> None:
    """Ask the aggregator's standard gRPC health service, over mutual TLS, whether it is SERVING.

    With an aggregator config it asks its own port on localhost; with any other config, the
    aggregator that config points to (a node checks that it can reach it with its own
    certificate, and that the server there presents the aggregator's certificate, not revoked
    on the config's `crl`). Exit status 0 when serving: the containers' healthcheck.

    \b
    Example:
      wijkindex health --config aggregator.toml
      wijkindex health --config node-ggd.toml --timeout 10
    """
    import tomllib

    from wijkindex.config import load_aggregator_config, load_client_config, load_node_config
    from wijkindex.federation import wait_healthy
    from wijkindex.security.pki import PartyCredentials

    raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
    if "listen" in raw:
        cfg = load_aggregator_config(config_path)
        address, tls, crl = f"localhost:{cfg.listen.rsplit(':', 1)[1]}", cfg.tls, cfg.crl
    elif "data_dir" in raw:
        node_cfg = load_node_config(config_path)
        address, tls, crl = node_cfg.aggregator, node_cfg.tls, node_cfg.crl
    else:
        client_cfg = load_client_config(config_path)
        address, tls, crl = client_cfg.aggregator, client_cfg.tls, client_cfg.crl
    wait_healthy(address, PartyCredentials.from_paths(tls.cert, tls.key, tls.ca), timeout=timeout, crl=crl)
    console.print(f"aggregator at {address}: SERVING")


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


if __name__ == "__main__":
    main()
