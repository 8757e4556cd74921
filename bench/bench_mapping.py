"""Mapping and checking a large BRP extract: rows per second and peak memory.

Writes a made-up BRP extract of ``--rows`` persons (default 500,000) in the GBA-V layout of the
shipped mapping (wijkindex/data/holders/brp: element numbers in the header, Windows-1252, ``;``,
a title line, YYYYMMDD dates, parents' BSNs and an address id per person), then reads it as a round
does (``read_dataset``: parse, validate, look up each address's wijk, derive the household type and
the mother's age at her first child) and as ``node check`` does, and prints the rows per second of
each and this process's peak memory.

    .venv/bin/python bench/bench_mapping.py [--rows 500000]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from datetime import date
from importlib import resources
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from wijkindex.config import load_node_config
from wijkindex.nodes.check import check_node
from wijkindex.nodes.loading import read_dataset

HEADER = ["01.01.20 burgerservicenummer", "01.02.40 geslachtsnaam", "01.02.30 voorvoegsel", "01.02.10 voornamen",
          "01.03.10 geboortedatum", "01.04.10 geslachtsaanduiding", "08.11.60 postcode", "08.11.20 huisnummer",
          "02.01.20 burgerservicenummer ouder1", "03.01.20 burgerservicenummer ouder2",
          "08.11.80 identificatiecode verblijfplaats"]


def valid_bsns(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct 9-digit numbers that pass the 11-proef."""
    out: set[str] = set()
    weights = np.array([9, 8, 7, 6, 5, 4, 3, 2, -1])
    while len(out) < n:
        x = rng.integers(100_000_000, 999_999_999, size=2 * (n - len(out)) * 11)
        digits = (x[:, None] // 10 ** np.arange(8, -1, -1)) % 10
        ok = x[(digits @ weights) % 11 == 0]
        out.update(f"{v:09d}" for v in ok.tolist())
    return np.array(sorted(out)[:n])


def write_extract(path: Path, lookup: Path, rows: int, seed: int = 1) -> None:
    """Households of one or two adults and 0-3 children; the children's parents are the adults."""
    rng = np.random.default_rng(seed)
    bsn = valid_bsns(rows, rng)
    lines, i, household = ["Extract BRP (verzonnen personen)", ";".join(HEADER)], 0, 0
    letters = "ABCDEGHJKLMNPRTVWXZ"  # no SA, SD or SS: not Dutch postcodes
    postcodes = [f"{8000 + k // len(letters):04d}{letters[k % len(letters)]}A" for k in range(2000)]
    while i < rows:
        household += 1
        pc, nr, addr = postcodes[household % len(postcodes)], str(household % 200 + 1), f"{household:016d}"
        n_adults, n_kids = (1 if rng.random() < 0.25 else 2), int(rng.integers(0, 4))
        adults = []
        for a in range(min(n_adults, rows - i)):
            sex = "V" if a == 0 else "M"
            lines.append(";".join([bsn[i], "Jansen", "", "Anna" if sex == "V" else "Jan",
                                   f"{int(rng.integers(1965, 1998))}{int(rng.integers(1, 13)):02d}15", sex, pc, nr,
                                   "", "", addr]))
            adults.append(bsn[i])
            i += 1
        for _ in range(min(n_kids, rows - i)):
            parents = adults + [""] * (2 - len(adults))
            lines.append(";".join([bsn[i], "Jansen", "", "Kind", f"{int(rng.integers(2006, 2024))}0601",
                                   "V" if rng.random() < 0.5 else "M", pc, nr, parents[0], parents[1], addr]))
            i += 1
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    lookup.write_text("postcode,huisnummer,buurt_code,wijk_code\n"
                      + "".join(f"{p},,BU0193{k % 16 + 10:02d}00,WK0193{k % 16 + 10:02d}\n"
                                for k, p in enumerate(postcodes)), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--rows", type=int, default=500_000, help="persons in the extract [default: 500,000]")
    args = ap.parse_args()
    console = Console(width=100)
    with tempfile.TemporaryDirectory(prefix="bench-mapping-") as tmp:
        root = Path(tmp)
        shutil.copytree(Path(str(resources.files("wijkindex") / "data" / "holders" / "brp")), root / "data")
        t = time.perf_counter()
        write_extract(root / "data" / "brp_extract.csv", root / "data" / "postcode_huisnummer.csv", args.rows)
        written = time.perf_counter() - t
        for name in ("secret.key", "ca.pem", "node.pem", "node.key"):
            (root / name).write_text("x", encoding="utf-8")
        (root / "node.toml").write_text(
            'version = 1\nname = "brp"\naggregator = "127.0.0.1:1"\nlinkage_secret = "secret.key"\n'
            'privacy_total = 4.0\ndata_dir = "data"\n[tls]\nca = "ca.pem"\ncert = "node.pem"\nkey = "node.key"\n',
            encoding="utf-8")
        config = load_node_config(root / "node.toml")
        t = time.perf_counter()
        loaded, _ = read_dataset(config, config.dataset("brp"), 2024, date(2024, 1, 1), "fail")
        read = time.perf_counter() - t
        t = time.perf_counter()
        result = check_node(config, 2024)
        checked = time.perf_counter() - t
        size = (root / "data" / "brp_extract.csv").stat().st_size
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    table = Table(title=f"a BRP extract of {args.rows:,} persons ({size / 2**20:.0f} MiB, GBA-V layout)")
    for col in ("step", "wall time", "rows per second"):
        table.add_column(col, justify="right" if col != "step" else "left")
    table.add_row("write the extract (not timed as a target)", f"{written:.1f} s", "")
    table.add_row("map and read (parse, validate, areas, derived fields)", f"{read:.1f} s",
                  f"{args.rows / read:,.0f}")
    table.add_row("node check (the same read, and the report)", f"{checked:.1f} s", f"{args.rows / checked:,.0f}")
    console.print(table)
    console.print(f"rows kept {len(loaded.frame):,}, excluded {loaded.n_excluded:,}; check ok: {result.ok}; "
                  f"peak memory of this process {rss / 2**20:,.0f} MiB")


if __name__ == "__main__":
    main()
