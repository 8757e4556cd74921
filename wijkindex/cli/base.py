"""The ``wijkindex`` group itself: logging, readable errors, ``--version``; the commands live beside it."""

from __future__ import annotations

import logging
import sys

import click
from rich.console import Console
from rich.logging import RichHandler

from wijkindex.errors import WijkindexError

console = Console(stderr=True)  # progress, messages and errors
out = Console()  # data: tables and --json, so that `... | jq` or `> file` gets only the data
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
@click.version_option(package_name="wijkindex", message="wijkindex %(version)s")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """wijkindex: link children's records across data holders without pooling them, and
    publish a differentially private wijk index.

    \b
    Quick start (a whole federation on this machine):
      wijkindex demo --out demo-out
    """
    _logging(verbose)


def json_option(fn):  # type: ignore[no-untyped-def]
    """``--json``: the command's data as JSON on stdout (progress and messages stay on stderr)."""
    return click.option("--json", "as_json", is_flag=True, help="Print the data as JSON on stdout.")(fn)


def print_json(data: object) -> None:
    """Dataclasses, tuples and dicts as indented JSON on stdout."""
    import dataclasses
    import json

    def plain(x: object) -> object:
        if dataclasses.is_dataclass(x) and not isinstance(x, type):
            return {f.name: plain(getattr(x, f.name)) for f in dataclasses.fields(x)}
        if isinstance(x, (list, tuple)):
            return [plain(v) for v in x]
        if isinstance(x, dict):
            return {str(k): plain(v) for k, v in x.items()}
        return x if isinstance(x, (str, int, float, bool)) or x is None else str(x)

    click.echo(json.dumps(plain(data), indent=2, ensure_ascii=False))
