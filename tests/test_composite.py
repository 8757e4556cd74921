"""Composite scores per domain: weighted indices against the gemeente, from the noised index only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from wijkindex.aggregator.composite import IndexDefinition, composite_scores, wijk_indices
from wijkindex.aggregator.index import IndexMeta, NoisedRelease, assemble_index
from wijkindex.aggregator.smoothing import paule_mandel
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
    definition.write_text('version = 1\nname = "t"\nmin_children = 0\nshrink = false\n[[domains]]\n'
                          'name = "gezin"\nkind = "risk"\n'
                          'indicators = { bijstand = 3.0, schuldhulp = 1.0, onbekend = 1.0 }\n')
    all_domains = composite_scores(index(), IndexDefinition.load(definition))
    c = all_domains[all_domains["domain"] == "gezin"].set_index("wijk_code")
    total = all_domains[all_domains["domain"] == "totaal"].set_index("wijk_code")
    assert total.loc["WK2", "score"] == c.loc["WK2", "score"]  # one risk domain: the total is that domain
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


def _noisy_index(n_small: int = 60, seed: int = 5):  # type: ignore[no-untyped-def]
    """20 big wijken with real differences and one tiny wijk, noised like a release at scale 12."""
    rng = np.random.default_rng(seed)
    cells = [Cell(f"WK{i:02d}", f"wijk {i}", "0-17") for i in range(21)]
    sizes = [2000] * 20 + [n_small]
    true_rates = np.r_[np.linspace(0.05, 0.25, 20), 0.05]
    noise = rng.laplace(0, 12, size=(2, 21)).round().astype(int)
    den = NoisedRelease("population", "gemeente", tuple(int(x) for x in np.array(sizes) + noise[0]), 12, 288, 28)
    num = NoisedRelease("bijstand", "gemeente", tuple(int(x) for x in np.array(sizes) * true_rates + noise[1]),
                        12, 288, 28)
    return assemble_index(IndexMeta("r", 2014, "GM0193", "Zwolle", min_cell_size=0), cells, den, [num]), true_rates


def test_shrinkage_pulls_noisy_small_wijken_toward_the_gemeente() -> None:
    idx, true_rates = _noisy_index()
    per = wijk_indices(idx, shrink=True).set_index("wijk_code")
    raw = wijk_indices(idx, shrink=False).set_index("wijk_code")
    mu = float(per.loc["GM0193", "gemeente_rate"])
    big = [f"WK{i:02d}" for i in range(20)]
    # big wijken keep their differences (the data support them); the tiny one moves toward the gemeente
    assert np.corrcoef(per.loc[big, "rate"], true_rates[:20])[0, 1] > 0.98
    assert abs(per.loc["WK20", "rate"] - mu) < abs(raw.loc["WK20", "rate"] - mu) or raw.loc["WK20", "rate"] == mu
    assert (per.loc[big, "index_moe90"] <= raw.loc[big, "index_moe90"] + 1e-9).all()


def test_paule_mandel_between_wijk_variance() -> None:
    rng = np.random.default_rng(1)
    v = np.full(400, 0.01)
    assert paule_mandel(rng.normal(0.2, 0.1, 400), v, 0.2) == 0.0  # all the spread is noise
    tau2 = paule_mandel(rng.normal(0.2, np.sqrt(0.01 + 0.04), 400), v, 0.2)
    assert 0.03 < tau2 < 0.05


def test_small_wijken_get_no_composite(tmp_path: Path) -> None:
    idx, _ = _noisy_index(n_small=60)
    c = composite_scores(idx, IndexDefinition.load()).set_index(["wijk_code", "domain"])
    assert np.isnan(c.loc[("WK20", "gezin"), "score"]) and np.isnan(c.loc[("WK20", "totaal"), "score"])
    assert not np.isnan(c.loc[("WK00", "gezin"), "score"])
