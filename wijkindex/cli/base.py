"""The ``wijkindex`` group itself: logging, readable errors, ``--version``; the commands live beside it."""

from __future__ import annotations

import logging
import sys

import click
from rich.console import Console
from rich.logging import RichHandler

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
