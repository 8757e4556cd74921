"""What the aggregator learns in a round, from every byte it receives.

Records every request message of a real round and shows that none holds a pseudonym
next to a readable attribute, that no count arrives un-noised, and that the relayed
spine is opaque to the aggregator.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from conftest import Running, truth_frame
from wijkindex.aggregator.rounds import POPULATION
from wijkindex.linkage.pseudonym import LinkageSecret, Pseudonymiser, RoundKey
from wijkindex.linkage.records import ColumnSpec, load_records
from wijkindex.proto import wijkindex_pb2 as pb

pytestmark = pytest.mark.slow
ROUND = "privacy-check"


@pytest.fixture(scope="module")
def recorded(running: Running) -> list[tuple[str, bytes]]:
    start = len(running.recorder.messages)
    running.run_round(running.spec(epsilon=1.0, round_id=ROUND))
    return running.recorder.messages[start:]


def _all_bsns(running: Running) -> list[str]:
    bsns: set[str] = set()
    for holder in running.info.holders:
        for csv in (running.info.out_dir / holder).glob("*.csv"):
            loaded = load_records(csv, [ColumnSpec("bsn", "bsn")], on_invalid="exclude")
            bsns.update(loaded.frame["bsn"].astype(str))
    return sorted(bsns)


def test_no_pseudonym_or_identifier_reaches_the_aggregator(recorded, running: Running) -> None:
    secret = LinkageSecret.from_file(running.fed.root / "secrets" / "linkage.key")
    bsns = _all_bsns(running)
    pseudonyms = Pseudonymiser(RoundKey.derive(secret, ROUND)).pseudonymise_many(bsns)
    blob = b"".join(body for _, body in recorded)
    assert len(blob) > 100_000  # the sealed spine did pass through
    assert not any(p in blob for p in pseudonyms), "a pseudonym reached the aggregator readable"
    assert not any(b.encode() in blob for b in bsns[:2000]), "a BSN reached the aggregator"


def test_relayed_spine_is_opaque_to_the_aggregator(recorded) -> None:
    envelopes = [pb.RelayChunk.FromString(body).envelope for method, body in recorded
                 if method.endswith("/UploadRelay")]
    assert envelopes
    for env in envelopes:
        with pytest.raises(Exception):
            pa.ipc.open_stream(env).read_all()
        assert b"pseudonym" not in env and b"ARROW" not in env
        # ciphertext looks uniformly random: no byte value is much over-represented
        counts = [env.count(bytes([b])) for b in range(256)]
        assert max(counts) < 3 * len(env) / 256 + 50


def test_every_count_arrives_noised(recorded, running: Running) -> None:
    releases = [pb.Release.FromString(body) for method, body in recorded if method.endswith("/SubmitRelease")]
    assert {r.cost.party for r in releases} == set(running.info.holders)
    truth = truth_frame(running.info)
    wijk = truth[truth["wijk_code"] != running.info.gemeente_code]
    any_indicator = wijk["indicator"].iloc[0]
    n_cells = len(wijk[["wijk_code", "age_band"]].drop_duplicates())
    for r in releases:
        for v in r.vectors:
            if v.WhichOneof("payload") == "sealed":
                # source nodes send only ciphertexts: no readable count at all
                assert r.cost.party != "gemeente" and all(len(c) >= 256 for c in v.sealed.ciphertexts)
                continue
            if v.indicator == "linkage":  # the fuzzy node's report: exact, fuzzy, not linked, noised
                assert r.cost.party in running.info.fuzzy and len(v.clear.values) == 3
                exact = json.loads((running.nodes[r.cost.party].reports_dir / f"{r.round_id}.json").read_text())
                assert list(v.clear.values) != exact["linkage_counts"], "the linkage report arrived un-noised"
                continue
            assert r.cost.party == "gemeente" and len(v.clear.values) == n_cells
            if v.indicator == POPULATION:
                exact = wijk[wijk["indicator"] == any_indicator]["denominator"]
            else:
                exact = wijk[wijk["indicator"] == v.indicator]["numerator"]
            assert sorted(v.clear.values) != sorted(exact.astype(int)), f"{v.indicator} arrived un-noised"
