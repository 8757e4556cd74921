"""Composite scores per domain: weighted indices against the gemeente, from the noised index only."""

from __future__ import annotations

from pathlib import Path

import pytest

from wijkindex.aggregator.composite import IndexDefinition, composite_scores
from wijkindex.aggregator.index import IndexMeta, NoisedRelease, assemble_index
from wijkindex.errors import ConfigError
from wijkindex.protocol.messages import Cell

CELLS = [Cell(w, w, b) for w in ("WK1", "WK2") for b in ("0-3", "4-11")]


def index():  # type: ignore[no-untyped-def]
    den = NoisedRelease("population", "gemeente", (100, 100, 100, 100), 1, 2, 2)
    a = NoisedRelease("bijstand", "gemeente", (10, 10, 30, 30), 1, 2, 2)   # WK2 has 3x the rate of WK1
    b = NoisedRelease("schuldhulp", "gemeente", (20, 20, 20, 20), 1, 2, 2)  # equal everywhere
    return assemble_index(IndexMeta("r", 2014, "GM0193", "Zwolle"), CELLS, den, [a, b])


def test_scores_are_weighted_indices(tmp_path: Path) -> None:
    definition = tmp_path / "index.toml"
    definition.write_text('version = 1\nname = "t"\n[[domains]]\nname = "gezin"\nkind = "risk"\n'
                          'indicators = { bijstand = 3.0, schuldhulp = 1.0, onbekend = 1.0 }\n')
    c = composite_scores(index(), IndexDefinition.load(definition)).set_index("wijk_code")
    # bijstand: gemeente 80/400 = 0.2; WK1 0.1 -> 50, WK2 0.3 -> 150; schuldhulp 100 everywhere
    assert c.loc["WK1", "score"] == pytest.approx((3 * 50 + 100) / 4)
    assert c.loc["WK2", "score"] == pytest.approx((3 * 150 + 100) / 4)
    assert c.loc["GM0193", "score"] == pytest.approx(100)
    assert c.loc["WK1", "n_indicators"] == 2  # the indicator the round lacks is left out
    assert c.loc["WK1", "moe90"] > 0


def test_default_definition_and_bad_definitions(tmp_path: Path) -> None:
    d = IndexDefinition.load()
    assert {x.kind for x in d.domains} == {"risk", "protective"}
    bad = tmp_path / "bad.toml"
    bad.write_text('version = 1\n[[domains]]\nname = "x"\nkind = "maybe"\nindicators = { a = -1 }\n')
    with pytest.raises(ConfigError) as err:
        IndexDefinition.load(bad)
    assert "domains[0].kind" in str(err.value) and "domains[0].indicators" in str(err.value)
