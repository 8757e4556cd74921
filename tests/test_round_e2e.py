"""A whole round on loopback with real mTLS, real Paillier and real OpenDP noise,
checked against the synthetic federation's truth within the noise the signed spec implies
(computed here from the spec, not taken from what the nodes declare)."""

from __future__ import annotations


import grpc
import opendp.prelude as dp
import pandas as pd
import pytest

from conftest import Running, truth_frame
from test_privacy_messages import Captured, assert_noise_at_scale, observed_noise, run_and_capture, signed_spec
from wijkindex.estimators.index import compare_with_truth
from wijkindex.clients import AggregatorError
from wijkindex.proto import wijkindex_pb2 as pb
from wijkindex.proto import wijkindex_pb2_grpc as rpc
from wijkindex.security.tls import secure_channel

pytestmark = pytest.mark.slow
dp.enable_features("contrib")


@pytest.fixture(scope="module")
def released(running: Running) -> Captured:
    """The main round, with every request the aggregator received and its Paillier key."""
    return run_and_capture(running, running.spec(epsilon=1.0, round_id="e2e-main"), "e2e-main")


@pytest.fixture(scope="module")
def completed(released: Captured, running: Running) -> tuple[str, pd.DataFrame, object]:
    with running.client("researcher") as r:
        index, status = r.get_index(released.round_id)
    return released.round_id, index, status


def test_round_completes_with_every_indicator(completed, running: Running, geography) -> None:
    round_id, index, status = completed
    assert status.state == "completed"
    wanted = {i for inds in running.info.holders.values() for i in inds}
    assert set(index["indicator"]) == wanted
    n_areas = len(geography.wijken) + 1  # wijken + the gemeente row
    spec = signed_spec(running, round_id)
    assert len(index) == n_areas * sum(len(spec.published_bands(i)) for i in wanted)
    # no published cell outside its indicator's ages, and each is a rate of its own population
    for ind, g in index.groupby("indicator"):
        assert set(g["age_band"]) == {b.label for b in spec.published_bands(ind)}, ind
        assert set(g["population"]) == {spec.denominator_of(ind)}, ind
    pupils = index[index["indicator"] == "onderwijsachterstand"]
    assert set(pupils["age_band"]) == {"4-11", "12-17"} and (pupils["population"] == "population:school@4-17").all()
    assert set(index.columns) >= {"period", "gemeente_code", "wijk_code", "wijk_name", "age_band", "indicator",
                                  "source", "numerator", "denominator", "rate", "moe90", "suppressed",
                                  "index_vs_gemeente"}
    # the privacy accounting is a value: each node's cost is what the spec allowed, summed per child
    assert {c.party for c in status.costs} == set(running.info.holders)
    assert all(c.epsilon <= 1.0 + 1e-9 for c in status.costs)
    assert status.per_child_epsilon == pytest.approx(sum(c.epsilon for c in status.costs))


def test_release_noise_has_the_scale_the_signed_spec_implies(released: Captured, completed,
                                                            running: Running) -> None:
    """Each node's declared cost matches the noise plan of the spec the coordinator signed, and
    the noise it really added (released minus true counts, opened as the aggregator opens them)
    has that scale: a node that declares the right scale but adds less noise fails here."""
    _, _, status = completed
    spec = signed_spec(running, released.round_id)
    declared = {c.party: c for c in status.costs}
    noise = observed_noise(running, released)
    assert set(declared) == set(noise) == set(spec.parties)
    for party in spec.parties:
        plan = spec.noise_plan(party)
        c = declared[party]
        assert c.mechanism == "discrete_laplace" and c.d_in == plan.marginal.d_in, party
        assert c.scale == pytest.approx(plan.marginal.scale) and c.epsilon <= spec.node(party).privacy_loss + 1e-9
        assert_noise_at_scale(noise[party], plan.marginal.scale, party, exact=not spec.node(party).fuzzy)


def test_index_agrees_with_truth_within_the_recorded_noise(released: Captured, completed, running: Running) -> None:
    _, index, _ = completed
    truth = truth_frame(running.info)
    spec = signed_spec(running, released.round_id)
    scale = {p: spec.noise_plan(p).marginal.scale for p in spec.parties}  # what the signed spec implies
    gm = running.info.gemeente_code
    cells = index[(index["wijk_code"] != gm) & ~index["suppressed"].astype(bool)]
    merged = cells.merge(truth, on=["wijk_code", "age_band", "indicator"], suffixes=("", "_true"))
    assert len(merged) == len(cells) > 0
    n = len(merged)
    within90 = 0
    for row in merged.itertuples():
        # a bound the noise exceeds with probability 1e-6 over the whole index (Bonferroni)
        den = spec.denominator_of(row.indicator)  # the spine's population, or a source's linked children
        den_party = (den.split(":", 1)[1].split("@")[0] if den.startswith("population:") else
                     spec.indicator_source()[den] if den in spec.indicator_source() else "gemeente")
        num_bound = dp.discrete_laplacian_scale_to_accuracy(scale[row.source], 1e-6 / n)
        den_bound = dp.discrete_laplacian_scale_to_accuracy(scale[den_party], 1e-6 / n)
        # a fuzzy node loses the survey records that leave their block (about 11-13% of them:
        # docs/linkage.md), so its counts may fall short of the truth by that much besides the noise
        lost = 0.15 * row.numerator_true if spec.node(row.source).fuzzy else 0
        lost_den = 0.15 * row.denominator_true if den_party != "gemeente" and spec.node(den_party).fuzzy else 0
        assert -den_bound - lost_den <= row.denominator - row.denominator_true <= den_bound, row
        assert -num_bound - den_bound - lost <= row.numerator - row.numerator_true <= num_bound + den_bound, row
        if row.denominator_true > 0 and abs(row.rate - row.numerator_true / row.denominator_true) <= row.moe90:
            within90 += 1
    # the published 90% margins cover the truth about 90% of the time (loose bounds: clamping helps)
    assert within90 / n >= 0.8


def test_noise_was_really_added(completed, running: Running) -> None:
    _, index, _ = completed
    truth = truth_frame(running.info)
    merged = index.merge(truth, on=["wijk_code", "age_band", "indicator"], suffixes=("", "_true"))
    merged = merged[~merged["suppressed"].astype(bool)]
    differs = (merged["numerator"].astype(float) != merged["numerator_true"].astype(float)).mean()
    assert differs > 0.3  # scale >= 1: most counts move


def test_gemeente_rows_are_consistent_and_100(completed, running: Running) -> None:
    """Gemeente rows are sums of every wijk cell's unclipped noised count (suppressed cells
    included); their index is 100 where the gemeente's rate is positive (a rare joint level's
    noised total can be at or below zero, and a small sub-population's size: no index then)."""
    _, index, _ = completed
    gm = index[index["wijk_code"] == running.info.gemeente_code]
    positive = (gm["numerator_noisy"].astype(float) > 0) & (gm["denominator_noisy"].astype(float) > 0)
    assert positive.mean() > 0.5  # rare indicators in a small federation: some totals are not
    shown = positive & ~gm["uncertain"].astype(bool)  # an uncertain row shows no rate and no index
    assert shown.any() and (gm.loc[shown, "index_vs_gemeente"].astype(float) == 100.0).all()
    assert gm.loc[gm["uncertain"].astype(bool), ["rate", "index_vs_gemeente"]].isna().all().all()
    assert gm.loc[~positive, "index_vs_gemeente"].isna().all()
    wijk = index[index["wijk_code"] != running.info.gemeente_code]
    for (ind, band), g in wijk.groupby(["indicator", "age_band"]):
        row = gm[(gm["indicator"] == ind) & (gm["age_band"] == band)].iloc[0]
        shown = g[~g["suppressed"].astype(bool)]
        if row["suppressed"]:  # a sub-population too small at gemeente level: its counts are hidden too
            assert pd.isna(row["denominator_noisy"]) and pd.isna(row["rate"])
            continue
        if row["population"] in set(index["indicator"]):  # a noised sub-population: its cells are hidden
            continue  # where its noise is large against its expected size (test_publication_rules), any size
        # the hidden (suppressed) cells' noised sizes are each below min_cell_size, and count in the total
        hidden = row["denominator_noisy"] - shown["denominator_noisy"].astype(int).sum()
        assert hidden < 10 * int(g["suppressed"].sum()) + 1e-9


def test_suppression_below_min_cell_size(completed) -> None:
    _, index, _ = completed
    sup = index[index["suppressed"].astype(bool)]
    assert sup["rate"].isna().all()
    shown = index[~index["suppressed"].astype(bool) & ~index["uncertain"].astype(bool)]
    assert (shown["denominator"].astype(float) >= 10).all()


def test_ledgers_hold_what_the_round_cost(completed, running: Running) -> None:
    """A source's datasets pay its own release; the spine's population dataset pays every
    release of the round (each is a sum over the cells the spine gives its children)."""
    round_id, _, status = completed
    assert status.per_child_epsilon == pytest.approx(sum(c.epsilon for c in status.costs))
    for c in status.costs:
        node = running.nodes[c.party]
        entries = [e for e in node.ledger.entries() if e.round_id == round_id]
        spine = node.config.spine_dataset.name if node.config.spine_dataset else None
        assert entries and {e.dataset for e in entries} == set(c.datasets)
        for e in entries:
            expected = status.per_child_epsilon if e.dataset == spine else c.epsilon
            assert e.epsilon == pytest.approx(expected), (c.party, e.dataset)
            assert len(e.content_sha256) == 64


def test_audit_log_records_the_round(completed, running: Running) -> None:
    round_id, _, _ = completed
    actions = [(a.actor, a.action) for a in running.aggregator.rounds.store.audit_log(round_id)]
    assert ("coordinator", "SubmitRound") in actions
    assert ("aggregator", "Release") in actions
    assert sum(1 for _, a in actions if a == "SubmitRelease") == len(running.info.holders)


# ---- refusals ---------------------------------------------------------------------------

def test_client_without_certificate_is_refused(running: Running) -> None:
    ca = (running.fed.pki_dir / "ca.pem").read_bytes()
    with grpc.secure_channel(running.fed.address, grpc.ssl_channel_credentials(root_certificates=ca)) as ch:
        with pytest.raises(grpc.RpcError) as err:
            rpc.ResultsStub(ch).ListRounds(pb.ListRoundsRequest(), timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_researcher_cannot_call_node_rpcs(running: Running) -> None:
    with secure_channel(running.fed.address, running.fed.credentials("researcher")) as ch:
        stub = rpc.NodeExchangeStub(ch)
        with pytest.raises(grpc.RpcError) as err:
            stub.PollTask(pb.PollTaskRequest(wait_seconds=0), timeout=5)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.RpcError) as err:
            list(stub.FetchRelay(pb.FetchRelayRequest(round_id="e2e-main"), timeout=5))
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    denied = [a for a in running.aggregator.rounds.store.audit_log() if a.outcome != "allowed"
              and "researcher" in a.actor]
    assert denied


def test_node_and_researcher_cannot_start_rounds_or_read_wrongly(running: Running) -> None:
    with secure_channel(running.fed.address, running.fed.credentials("ggd")) as ch:
        with pytest.raises(grpc.RpcError) as err:
            rpc.ResultsStub(ch).GetIndex(pb.GetIndexRequest(round_id="e2e-main"), timeout=5)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with running.client("researcher") as r:
        with pytest.raises(AggregatorError, match="PERMISSION_DENIED"):
            r.submit_round(running.spec())


def test_unknown_node_in_spec_is_refused(running: Running) -> None:
    spec = running.spec(indicators={**running.info.holders, "politie": ["incidenten"]})
    with running.client("coordinator") as c:
        with pytest.raises(AggregatorError) as err:
            c.submit_round(spec)
    assert "nodes.politie" in str(err.value) and "unknown node" in str(err.value)


def test_replayed_round_is_refused(running: Running) -> None:
    spec = running.spec(round_id="e2e-replay-check", epsilon=0.1)
    with running.client("coordinator") as c:
        c.submit_round(spec)
        with pytest.raises(AggregatorError, match="replay"):
            c.submit_round(spec)
        c.wait_round("e2e-replay-check", timeout=300)


def test_indicator_a_node_does_not_offer_fails_the_round_cleanly(running: Running) -> None:
    spec = running.spec(indicators={**running.info.holders, "ggd": ["schoenmaat"]}, epsilon=0.1)
    with running.client("coordinator") as c:
        round_id = c.submit_round(spec)
        with pytest.raises(Exception) as err:
            c.wait_round(round_id, timeout=120)
        assert "schoenmaat" in str(err.value)
    with running.client("researcher") as r:
        with pytest.raises(AggregatorError, match="completed"):
            r.get_index(round_id)


def test_empirical_bayes_rates_are_closer_to_the_truth(completed, running: Running) -> None:
    """rate_eb (post-processing) shrinks noisy small cells towards the gemeente: smaller errors,
    narrower margins for most cells (its MSE counts the error of the estimated between-wijk
    variance, g3, which can make a very noisy cell's margin wider than its direct one), and the
    gemeente rows untouched."""
    _, index, _ = completed
    gm = running.info.gemeente_code
    cells = index[(index["wijk_code"] != gm) & ~index["suppressed"].astype(bool)]
    cmp = compare_with_truth(cells, truth_frame(running.info))
    rmse = lambda col: float((cmp[col] ** 2).mean() ** 0.5)  # noqa: E731  (what EB minimises)
    assert rmse("rate_eb_abs_error") < rmse("rate_abs_error"), (rmse("rate_eb_abs_error"), rmse("rate_abs_error"))
    narrower = cells["moe90_eb"] <= cells["moe90"] + 1e-12
    assert narrower.mean() > 0.6 and cells["moe90_eb"].median() < cells["moe90"].median()  # 0.78-0.85 seen
    assert cells["rate_eb"].between(0, 1).all()
    g = index[index["wijk_code"] == gm]
    assert (g["rate_eb"].fillna(-1) == g["rate"].fillna(-1)).all()
