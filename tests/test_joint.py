"""Joint indicators (the chain protocol), against the truth: children with attributes at two
holders, and cumulative risk counted across all three (spine -> GGD -> school)."""

from __future__ import annotations

import opendp.prelude as dp
import pytest

import pyarrow as pa

import wijkindex.protocol.relay as relay_module
from conftest import Running, truth_frame
from wijkindex.proto import wijkindex_pb2 as pb
from wijkindex.protocol.envelope import open_envelope as real_open_envelope

pytestmark = pytest.mark.slow
dp.enable_features("contrib")
ROUND = "joint-check"


OPENED: dict[tuple[str, str], list[pa.Table]] = {}


def _recording_open(*args, **kw):  # type: ignore[no-untyped-def]
    """What a node reads from each relay envelope it opens, keyed by (sender, recipient)."""
    plain = real_open_envelope(*args, **kw)
    sender, recipient = kw["context"].decode().split("|")[3].split("->")
    table = pa.ipc.open_stream(relay_module._unpad(plain)).read_all()
    real = table.filter(table.column(relay_module.REAL)).drop_columns([relay_module.REAL])  # not the padding
    OPENED.setdefault((sender, recipient), []).append(real)
    return plain


@pytest.fixture(scope="module")
def joint_round(running: Running):  # type: ignore[no-untyped-def]
    start = len(running.recorder.messages)
    relay_module.open_envelope = _recording_open
    try:
        round_id, _ = running.run_round(running.spec(epsilon=1.0, round_id=ROUND, joint=running.info.joint,
                                                          cumulative=running.info.cumulative))
    finally:
        relay_module.open_envelope = real_open_envelope
    with running.client("researcher") as r:
        index, status = r.get_index(round_id)
    return index, status, running.recorder.messages[start:]


def test_joint_counts_agree_with_truth_within_both_noise_shares(joint_round, running: Running) -> None:
    index, status, _ = joint_round
    scale = {c.party: c.joint_scale for c in status.costs}
    den_scale = next(c.scale for c in status.costs if c.party == "gemeente")
    truth = truth_frame(running.info)
    gm = running.info.gemeente_code
    names = running.info.joint_indicators()
    joint = index[index["indicator"].isin(names) & (index["wijk_code"] != gm) & ~index["suppressed"].astype(bool)]
    assert set(joint["indicator"]) == set(names)
    assert set(joint[joint["indicator"] == "cumulatief_risico_2"]["source"]) == {"gemeente+ggd+school"}
    assert set(joint[joint["indicator"] == "eenouder_en_psychosociaal"]["source"]) == {"gemeente+ggd"}
    merged = joint.merge(truth, on=["wijk_code", "age_band", "indicator"], suffixes=("", "_true"))
    assert len(merged) == len(joint)
    n = len(merged)
    for row in merged.itertuples():
        parties = row.source.split("+")
        merged_slots = 3 if row.indicator == "cumulatief_risico_3plus" else 1  # levels 3, 4, 5 summed
        bound = merged_slots * sum(dp.discrete_laplacian_scale_to_accuracy(scale[p], 1e-6 / n) for p in parties)
        den_bound = dp.discrete_laplacian_scale_to_accuracy(den_scale, 1e-6 / n)
        assert abs(row.numerator - row.numerator_true) <= bound + den_bound, row
    # the joint count never exceeds what both marginals allow, up to noise: a smoke check of the semantics
    assert (merged["numerator_true"] <= merged["denominator_true"]).all()


def test_joint_costs_are_in_the_ledgers(joint_round, running: Running) -> None:
    _, status, _ = joint_round
    d_in = {c.party: (c.d_in, c.joint_d_in) for c in status.costs}
    # gemeente: population + 6 marginals; 4 joint + 2 (a count histogram moves a child between levels);
    # ggd (fuzzy, link factor 2 + K = 3): (5 + 2 populations it is a rate of) x 3 + its linkage report
    # (2 + 2K = 4); (1 + 2) x 3; school: 4 + its pupils aged 4-17; 1 + 2
    assert d_in == {"gemeente": (7, 6), "ggd": (25, 9), "school": (5, 3)}
    for c in status.costs:
        # the default joint_weight 0.5: a joint unit gets half a marginal vector's epsilon
        assert c.joint_scale == pytest.approx(2 * c.scale)
        assert c.d_in / c.scale + c.joint_d_in / c.joint_scale == pytest.approx(c.epsilon) and c.epsilon <= 1 + 1e-9
        node = running.nodes[c.party]
        spine = node.config.spine_dataset.name if node.config.spine_dataset else None
        entries = [e for e in node.ledger.entries() if e.round_id == ROUND]
        assert entries and all(e.epsilon == pytest.approx(status.per_child_epsilon if e.dataset == spine
                                                          else c.epsilon) for e in entries)
        assert all(f"scale {c.joint_scale:g}" in e.purpose for e in entries)


def test_aggregator_sees_joint_counts_only_sealed_and_twice_noised(joint_round, running: Running) -> None:
    _, _, recorded = joint_round
    releases = {r.cost.party: r for r in (pb.Release.FromString(b) for m, b in recorded
                                          if m.endswith("/SubmitRelease"))}
    ggd = {v.indicator: v for v in releases["ggd"].vectors}
    assert ggd["eenouder_en_psychosociaal"].WhichOneof("payload") == "sealed"
    # every node merges its noise share into the running one: one offset, whatever the chain's length
    assert ggd["eenouder_en_psychosociaal"].sealed.noise_terms == 1
    school = {v.indicator: v for v in releases["school"].vectors}
    assert school["smartstart_en_onderwijsachterstand"].sealed.noise_terms == 1
    assert school["cumulatief_risico"].sealed.noise_terms == 1  # spine, GGD and school shares, merged
    assert "cumulatief_risico" not in {v.indicator for v in releases["ggd"].vectors}
    gemeente = {v.indicator for v in releases["gemeente"].vectors}
    assert "eenouder_en_psychosociaal" not in gemeente and "smartstart_profiel" in gemeente


def test_cumulative_levels_partition_the_population(joint_round, running: Running) -> None:
    index, status, _ = joint_round
    truth = truth_frame(running.info)
    levels = [n for n in running.info.joint_indicators() if n.startswith("cumulatief_risico_")]
    t = truth[truth["indicator"].isin(levels)].groupby(["wijk_code", "age_band"])["numerator"].sum()
    pop = truth[truth["indicator"] == "eenoudergezin"].set_index(["wijk_code", "age_band"])["denominator"]
    assert (t == pop.loc[t.index]).all()  # every child is in exactly one level
    shares = truth[truth["indicator"].isin(levels)].groupby("indicator")["numerator"].sum() / pop.sum()
    assert shares["cumulatief_risico_0"] > shares["cumulatief_risico_1"] > shares["cumulatief_risico_3plus"] > 0
    # every level is released for every cell (the noised values themselves are checked against the truth above)
    released = index[index["indicator"].isin(levels)]
    assert len(released) == len(levels) * len(pop.index.union(t.index))


def test_chain_relays_are_opaque_to_the_aggregator(joint_round, running: Running) -> None:
    _, _, recorded = joint_round
    uploads = [pb.RelayChunk.FromString(b) for m, b in recorded if m.endswith("/UploadRelay")]
    assert {c.recipient for c in uploads} >= {"ggd", "school"}
    for c in uploads:
        # the aggregator holds sealed envelopes only: no Arrow stream, no pseudonym in the clear
        assert b"ARROW" not in c.envelope and b"pseudonym" not in c.envelope


def test_nodes_receive_only_sealed_vectors_and_fresh_ciphertexts_down_the_chain(joint_round) -> None:
    assert set(OPENED) == {("gemeente", "ggd"), ("gemeente", "school"), ("ggd", "school")}
    size = 512  # a 2048-bit Paillier ciphertext
    columns: dict[tuple[str, str], dict[str, list[bytes]]] = {}
    for edge, tables in OPENED.items():
        table = pa.concat_tables(tables)
        columns[edge] = {c: table.column(c).to_pylist() for c in table.column_names}
        for name, values in columns[edge].items():
            if name == "pseudonym":
                assert all(len(v) == 32 for v in values)
                continue
            if name == "encoding":  # the spine's keyed, balanced encodings, only to the fuzzy GGD
                assert edge == ("gemeente", "ggd")
                assert all(len(v) == 256 and int.from_bytes(v, "big").bit_count() == 1024 for v in values)
                continue
            if name == "block":  # the spine's keyed block digests (linkage/fuzzy.py), only to the fuzzy GGD
                assert edge == ("gemeente", "ggd") and all(len(v) == 16 for v in values)
                assert len(set(values)) > 0.9 * len(values)  # keyed digests of near-unique blocks
                continue
            assert name == "sealed" or name.startswith("joint:")  # no attribute travels as such
            assert all(len(v) % size == 0 and v for v in values)
    # the GGD forwards cumulative risk: the school gets only the GGD's version, every ciphertext fresh
    assert set(columns[("ggd", "school")]) == {"pseudonym", "joint:cumulatief_risico"}
    from_spine = set(columns[("gemeente", "ggd")]["joint:cumulatief_risico"])
    from_ggd = columns[("ggd", "school")]["joint:cumulatief_risico"]
    assert len(from_ggd) == len(from_spine) and not from_spine & set(from_ggd)
    # a joint column goes only to the chain's next node
    assert "joint:eenouder_en_psychosociaal" not in columns[("gemeente", "school")]
    assert "joint:smartstart_en_onderwijsachterstand" in columns[("gemeente", "school")]
