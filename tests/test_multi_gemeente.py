"""One aggregator serving two gemeenten at once: rounds of both run concurrently, each against
its own geography, with its own nodes; a spec for a gemeente it does not serve is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import start_node
from wijkindex.aggregator.server import start_aggregator
from wijkindex.clients import AggregatorClient
from wijkindex.config import load_aggregator_config
from wijkindex.errors import WijkindexError
from wijkindex.federation import lay_out, round_spec
from wijkindex.synth.generator import generate_federation

pytestmark = pytest.mark.slow
HOLDERS = ("gemeente", "ggd", "school")


def test_two_gemeenten_in_one_aggregator(tmp_path: Path, geography) -> None:
    geos = {"a": geography, "b": geography.renamed("GM9001", "Tweede gemeente")}
    infos = {k: generate_federation(tmp_path / f"fed-{k}", seed=20 + i, scale=0.03, geography=g)
             for i, (k, g) in enumerate(geos.items())}
    names = [f"{h}-{k}" for k in geos for h in HOLDERS]
    fed = lay_out(tmp_path / "run", tmp_path, nodes=names, port=0, paillier_bits=1024, poll_seconds=1.0,
                  data_of={f"{h}-{k}": infos[k].out_dir / h for k in geos for h in HOLDERS})
    agg = start_aggregator(load_aggregator_config(fed.aggregator_config), geography=list(geos.values()))
    address = f"127.0.0.1:{agg.port}"
    nodes = [start_node(fed.node_configs[name], address)[0] for name in names]
    try:
        with AggregatorClient(address, fed.credentials("coordinator")) as c:
            ids = {}
            for k, info in infos.items():  # both submitted before either finishes
                holders = {f"{h}-{k}": inds for h, inds in info.holders.items()}
                ids[k] = c.submit_round(round_spec(info.period, info.gemeente_code, holders, spine=f"gemeente-{k}",
                                                   round_id=f"two-{k}", fuzzy=[f"ggd-{k}"]))
            for rid in ids.values():
                assert c.wait_round(rid, timeout=300).state == "completed"
            with pytest.raises(WijkindexError, match="serves GM0193, GM9001"):
                c.submit_round(round_spec(2014, "GM9999", {"gemeente-a": ["eenoudergezin"]}, spine="gemeente-a"))
        with AggregatorClient(address, fed.credentials("researcher")) as r:
            a, _ = r.get_index("two-a")
            b, _ = r.get_index("two-b")
        assert set(a["gemeente_code"]) == {"GM0193"} and set(b["gemeente_code"]) == {"GM9001"}
        assert all(w.startswith("WK0193") or w == "GM0193" for w in a["wijk_code"])
        assert all(w.startswith("WK9001") or w == "GM9001" for w in b["wijk_code"])
        assert (b["wijk_name"] == "Binnenstad").any()
    finally:
        for n in nodes:
            n.stop()
        agg.stop(grace=0.5)
