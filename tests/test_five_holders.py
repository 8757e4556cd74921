"""A chain across five holders (gemeente BRP, social domain, GGD, school, leerplicht) against the truth.

Every node of a chain merges its noise share into the running one (one offset per slot), so a
joint indicator or a cumulative-risk count can span every holder of the round. The records are
those of the three-holder federation, split over five holders, so its truth is known.
"""

from __future__ import annotations

import opendp.prelude as dp
import pytest

from conftest import Running, start_federation
from wijkindex.geography import Geography
from wijkindex.proto import wijkindex_pb2 as pb
from wijkindex.synth.generator import FederationInfo
from wijkindex.synth.holders import FIVE_HOLDERS, among_five, five_holders
from wijkindex.synth.truth import compute_truth

pytestmark = pytest.mark.slow
dp.enable_features("contrib")
THREE = ["gemeente:eenoudergezin", "gemeente:bijstand", "ggd:psychosociale_problemen",
         "school:onderwijsachterstand", "school:verzuim"]
PAIR = ["gemeente:bijstand", "school:verzuim"]  # social domain and leerplicht: a chain of three


@pytest.fixture(scope="module")
def five(tmp_path_factory: pytest.TempPathFactory, small_federation: FederationInfo, geography: Geography):  # type: ignore[no-untyped-def]
    info = five_holders(small_federation, tmp_path_factory.mktemp("five") / "federation")
    truth = compute_truth(small_federation.out_dir, geography, small_federation.period,
                          joint={"bijstand_en_verzuim": PAIR}, cumulative={"risico_vijf": THREE})
    running = start_federation(tmp_path_factory.mktemp("fed5"), info, geography)
    try:
        spec = running.spec(epsilon=1.0, round_id="five-holders",
                            joint={"bijstand_en_verzuim": [among_five(a) for a in PAIR]},
                            cumulative={"risico_vijf": [among_five(a) for a in THREE]})
        start = len(running.recorder.messages)
        round_id, status = running.run_round(spec, timeout=600)
        with running.client("researcher") as r:
            index, _ = r.get_index(round_id)
        yield running, index, status, truth, running.recorder.messages[start:]
    finally:
        running.stop()


def test_the_chain_visits_every_holder(five) -> None:  # type: ignore[no-untyped-def]
    running, index, status, _, recorded = five
    assert status.state == "completed", status.reason
    assert set(running.nodes) == set(FIVE_HOLDERS) and len(FIVE_HOLDERS) == 5
    levels = index[index["indicator"].str.startswith("risico_vijf_")]
    assert set(levels["source"]) == {"gemeente+sociaal-domein+ggd+school+leerplicht"}
    releases = {r.cost.party: r for r in (pb.Release.FromString(b) for m, b in recorded
                                          if m.endswith("/SubmitRelease"))}
    last = {v.indicator: v for v in releases["leerplicht"].vectors}
    assert last["risico_vijf"].sealed.noise_terms == 1 and last["bijstand_en_verzuim"].sealed.noise_terms == 1
    # the edges of the relay: the spine to every source, then each hop of the five-node chain
    hops = {(c.sender, c.recipient) for c in (pb.RelayChunk.FromString(b) for m, b in recorded
                                              if m.endswith("/UploadRelay"))}
    assert {("gemeente", "sociaal-domein"), ("sociaal-domein", "ggd"), ("ggd", "school"),
            ("school", "leerplicht")} <= hops


def test_five_holder_counts_agree_with_truth_within_every_noise_share(five) -> None:  # type: ignore[no-untyped-def]
    running, index, status, truth, _ = five
    scale = {c.party: c.joint_scale for c in status.costs}
    den_scale = next(c.scale for c in status.costs if c.party == "gemeente")
    gm = running.info.gemeente_code
    names = {"bijstand_en_verzuim", *(f"risico_vijf_{k}" for k in ("0", "1", "2", "3plus"))}
    joint = index[index["indicator"].isin(names) & (index["wijk_code"] != gm) & ~index["suppressed"].astype(bool)]
    merged = joint.merge(truth, on=["wijk_code", "age_band", "indicator"], suffixes=("", "_true"))
    assert len(merged) == len(joint) and set(merged["indicator"]) == names
    n = len(merged)
    errors = []
    for row in merged.itertuples():
        parties = row.source.split("+")
        merged_slots = 3 if row.indicator == "risico_vijf_3plus" else 1  # levels 3, 4, 5 summed
        bound = merged_slots * sum(dp.discrete_laplacian_scale_to_accuracy(scale[p], 1e-6 / n) for p in parties)
        assert abs(row.numerator - row.numerator_true) <= bound + dp.discrete_laplacian_scale_to_accuracy(
            den_scale, 1e-6 / n), row
        errors.append((row.numerator - row.numerator_true) / (merged_slots * sum(2 * scale[p] ** 2 for p in parties)) ** 0.5)
    # the merged noise is centred: the mean standardised error of n cells is within 4 / sqrt(n) of 0
    assert abs(sum(errors) / n) < 4 / n ** 0.5
    # a child's levels partition the cell: the five levels' truth sums to the cell's children
    t = truth[truth["indicator"].str.startswith("risico_vijf_")]
    sums = t.groupby(["wijk_code", "age_band"])["numerator"].sum()
    dens = t.groupby(["wijk_code", "age_band"])["denominator"].first()
    assert (sums == dens).all()
