"""Setting up: a synthetic federation, development certificates, the linkage secret, config templates."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from wijkindex.cli.base import DEFAULT_GEOGRAPHY, console, main
from wijkindex.errors import WijkindexError


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
    """Development certificates for every party.

    \b
    Example:
      wijkindex pki init pki --node gemeente --node ggd --node school
      wijkindex pki revoke pki researcher
    """


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
    """The federation linkage secret shared by the data holders.

    \b
    Example:
      wijkindex secret new secrets/linkage.key
    """


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


# ---- init ------------------------------------------------------------------------------------

ROLES = ("node", "aggregator", "coordinator", "researcher")
TEMPLATES = Path(__file__).resolve().parent.parent / "data" / "templates"  # shipped as package data


@main.command("init")
@click.argument("role", type=click.Choice(ROLES))
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--name", default=None, help="The node's party name (node only) [default: the file's name, "
                                           "node-ggd.toml -> ggd].")
def init(role: str, path: Path, name: str | None) -> None:
    """Write a commented config for ROLE to PATH, to fill in: every field with what it does and its
    default. Refuses to overwrite a file. The fields are explained in docs/operator-guide.md.

    \b
    Example:
      wijkindex init node node-ggd.toml          # name = "ggd"
      wijkindex init aggregator aggregator.toml
      wijkindex init coordinator coordinator.toml
      wijkindex init researcher researcher.toml
    """
    import re

    if path.exists():
        raise WijkindexError(f"{path} exists; refusing to overwrite it", fix="give a new file name, or remove it first")
    party = name or re.sub(r"^node[-_]", "", path.stem)
    if role == "node" and not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", party):
        raise click.BadParameter(f"{party!r}: a node name is lowercase letters, digits and '-'", param_hint="--name")
    text = (TEMPLATES / f"{role}.toml").read_text(encoding="utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.replace("{name}", party), encoding="utf-8")
    console.print(f"[green]wrote[/] {path}: fill in its fields, then "
                  + {"node": f"`wijkindex node check --config {path}`",
                     "aggregator": f"`wijkindex aggregator serve --config {path}`",
                     "coordinator": f"`wijkindex health --config {path}`",
                     "researcher": f"`wijkindex health --config {path}`"}[role])
