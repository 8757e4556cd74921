"""Evaluating fuzzy linkage on files with known links."""

from __future__ import annotations

from pathlib import Path

import click

from wijkindex.cli.base import console, main



# ---- linkage ---------------------------------------------------------------------------

@main.group()
def linkage() -> None:
    """Fuzzy linkage on keyed encodings: evaluate it on files with known links.

    \b
    Example:
      wijkindex linkage evaluate spine.csv ggd.csv --entity child_id
    """


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
