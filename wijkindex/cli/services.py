"""The long-running services (aggregator, node) and a node's own checks: health, check, budget."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Callable

import click
from rich.table import Table

from wijkindex.cli.base import console, json_option, main, out, print_json



# ---- services ------------------------------------------------------------------------------

def _serve_until_signal(stop: Callable[[], None]) -> None:
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    stop()


@main.group()
def aggregator() -> None:
    """The aggregator service.

    \b
    Example:
      wijkindex init aggregator aggregator.toml      # a commented config to fill in
      wijkindex aggregator serve --config aggregator.toml
    """


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
    """A data holder's node: check its exports, serve rounds, read its budget.

    \b
    Example:
      wijkindex init node node-ggd.toml              # a commented config to fill in
      wijkindex node check --config node-ggd.toml --report check.html
      wijkindex node serve --config node-ggd.toml
      wijkindex node budget --config node-ggd.toml
    """


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


@node.command("budget")
@click.option("--config", "config_path", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--period", type=click.IntRange(1900, 2200), default=None, help="Only this period [default: all].")
@json_option
def node_budget(config_path: Path, period: int | None, as_json: bool) -> None:
    """What each dataset of this node has spent of its privacy budget and has left, per period,
    from the node's own ledger (read only; nothing is sent). A dataset of datasets.toml that was
    never charged has its whole total left for every period.

    \b
    Example:
      wijkindex node budget --config node-ggd.toml
      wijkindex node budget --config node-ggd.toml --period 2014 --json
    """
    from wijkindex.config import load_node_config
    from wijkindex.privacy.ledger import Balance, PrivacyLedger

    cfg = load_node_config(config_path)
    balances: list[Balance] = []
    if cfg.ledger.exists():
        with PrivacyLedger(cfg.ledger, cfg.privacy_total, owner=cfg.name) as ledger:
            balances = [b for b in ledger.balances() if period is None or b.period == period]
    charged = {b.dataset for b in balances}
    never = [d.name for d in cfg.datasets if d.name not in charged]
    if as_json:
        print_json({"node": cfg.name, "ledger": str(cfg.ledger), "total_per_dataset_and_period": cfg.privacy_total,
                    "balances": balances, "never_charged": never})
        return
    table = Table("dataset", "period", "spent (epsilon)", "left", "rounds", "last charged",
                  title=f"privacy budget of node {cfg.name}: {cfg.privacy_total:g} per dataset and period")
    for b in balances:
        table.add_row(b.dataset, str(b.period), f"{b.spent:.4g}", f"{b.left:.4g}", str(b.rounds), b.last_charged)
    for name in never:
        table.add_row(name, "any", "0", f"{cfg.privacy_total:g}", "0", "never")
    out.print(table)
    if not cfg.ledger.exists():
        console.print(f"no ledger yet at {cfg.ledger}: this node has released nothing")


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
