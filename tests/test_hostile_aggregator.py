"""A hostile aggregator: the real aggregator, with what it sends nodes rewritten (tests/hostile.py).

The aggregator is trusted to be available, never to behave. For every attack, the attacked
node must refuse with a reason naming its check, write a "refused" line to its own audit log,
release nothing (no ledger entry, no release, no relay upload), and send nothing after the
refusal but the refusal itself. One federation serves most attacks (a spine of ~2,700
children, so each relay is two chunks); a fresh one only where a node's config changes or
a node may die.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator

import pytest

from conftest import Running, start_federation
from hostile import (HostileAggregator, copy, recipient, relabelled, wait_for, with_cells, with_key,
                     with_layout, with_recipients)
from wijkindex.config import load_node_config
from wijkindex.errors import RoundFailed
from wijkindex.geography import Geography
from wijkindex.nodes.node import Node
from wijkindex.privacy.ledger import AuditLine, LedgerEntry
from wijkindex.proto import wijkindex_pb2 as pb
from wijkindex.protocol.paillier import generate_keypair
from wijkindex.synth.generator import FederationInfo, generate_federation

pytestmark = pytest.mark.slow

SOURCES = ("ggd", "school")
SENDS = ("JoinRound", "UploadRelay", "FetchRelay", "SubmitRelease", "ReportFailure")
WORDS = ("JoinRound", "UploadRelay", "SubmitRelease", "ReportFailure")  # what a node says (FetchRelay only asks)


# ---- the federation -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def wide_federation(tmp_path_factory: pytest.TempPathFactory, geography: Geography) -> FederationInfo:
    """~2,700 children: every relay is 2 chunks of 2,000 rows, so chunks can be reordered."""
    return generate_federation(tmp_path_factory.mktemp("synth-wide") / "federation", seed=11, scale=0.1,
                               geography=geography)


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory, wide_federation: FederationInfo,
                geography: Geography) -> Iterator[tuple[Running, HostileAggregator]]:
    hostile = HostileAggregator()
    run = start_federation(tmp_path_factory.mktemp("hostile"), wide_federation, geography, privacy_total=100.0,
                           interceptors=(hostile,))
    yield run, hostile
    run.stop()


@pytest.fixture
def fed(hostile_run: tuple[Running, HostileAggregator]) -> Iterator[tuple[Running, HostileAggregator]]:
    yield hostile_run
    hostile_run[1].reset()


@pytest.fixture(scope="module")
def done_round(hostile_run: tuple[Running, HostileAggregator]) -> str:
    """An honest round that completed: the one replayed, and recorded from, below."""
    run, hostile = hostile_run
    rid, status = run.run_round(run.spec(epsilon=1.0, round_id="hx-done"))
    assert getattr(status, "state") == "completed"
    assert [len(hostile.chunks(s, rid)) for s in SOURCES] == [2, 2]
    for party in run.nodes:
        wait_for(lambda: run.nodes[party].ledger.stored_release(rid) is not None, what=f"{party} to release")
    return rid


# ---- what the tests look at ---------------------------------------------------------------

def charged(run: Running, party: str, rid: str) -> list[LedgerEntry]:
    return [e for e in run.nodes[party].ledger.entries() if e.round_id == rid]


def sent(hostile: HostileAggregator, party: str, rid: str, methods: tuple[str, ...] = SENDS) -> list[str]:
    """The round's messages ``party`` sent, in order (PollTask names no round). The node opens its
    FetchRelay stream before it checks the AggregateTask, so that call may be recorded after the refusal."""
    return [c.method for c in list(hostile.calls) if c.party == party and c.round_id == rid and c.method in methods]


def refusal(run: Running, party: str, rid: str, step: str) -> AuditLine:
    """The node's own audit line of its refusal of ``step`` (JoinTask, SealTask, AggregateTask)."""
    def find() -> AuditLine | None:
        return next((a for a in run.nodes[party].ledger.audit_lines(rid)
                     if a.step == step and a.outcome == "refused"), None)
    return wait_for(find, what=f"{party} to audit its refusal of {step} in {rid}")  # type: ignore[return-value]


def settle(hostile: HostileAggregator, party: str, rid: str, since: int = 0) -> None:
    """Wait until ``party`` told its refusal of ``rid`` (after call number ``since``) and asked for its
    next task: it is done with the round."""
    def done() -> bool:
        calls = list(hostile.calls)
        told = [i for i, c in enumerate(calls) if i >= since and c.party == party and c.round_id == rid
                and (c.method == "ReportFailure" or (c.method == "JoinRound" and not c.request.accept))]
        return bool(told) and any(c.party == party and c.method == "PollTask" for c in calls[told[-1] + 1:])
    wait_for(done, what=f"{party} to report its refusal of {rid} and poll again")


def failed_round(run: Running, rid: str) -> str:
    with pytest.raises(RoundFailed) as err:
        run.run_round(run.spec(epsilon=1.0, round_id=rid), timeout=120)
    return str(err.value)


def released_nothing(run: Running, hostile: HostileAggregator, party: str, rid: str) -> None:
    """No ledger entry, no stored release, nothing sent after the refusal but the refusal."""
    settle(hostile, party, rid)
    assert charged(run, party, rid) == []
    assert run.nodes[party].ledger.stored_release(rid) is None
    assert run.aggregator.rounds.store.releases(rid).get(party) is None
    assert not {"UploadRelay", "SubmitRelease"} & set(sent(hostile, party, rid))
    assert sent(hostile, party, rid, WORDS)[-1] in ("JoinRound", "ReportFailure")  # the refusal is the last word


def one_release_each(run: Running, rid: str) -> None:
    """A completed round, released once by every node, each dataset charged once."""
    store = run.aggregator.rounds.store
    row = store.get_round(rid)
    assert row is not None and row.state == "completed" and store.index(rid) is not None
    assert sorted(store.releases(rid)) == sorted(run.nodes)
    for party in run.nodes:
        per_dataset = Counter(e.dataset for e in charged(run, party, rid))
        assert per_dataset and set(per_dataset.values()) == {1}, (party, per_dataset)
        assert run.nodes[party].ledger.round_state(rid) == "released"


def join_refused(run: Running, hostile: HostileAggregator, party: str, rid: str, reason: str, check: str) -> None:
    """A JoinTask refusal: round failed naming the check, audited, nothing journalled, charged or sent."""
    assert f"node {party} refused" in reason and check in reason, reason
    assert check in refusal(run, party, rid, "JoinTask").detail
    released_nothing(run, hostile, party, rid)
    assert run.nodes[party].ledger.round_state(rid) is None  # refused before the join was recorded
    assert sent(hostile, party, rid) == ["JoinRound"]
    (reply,) = hostile.calls_from(party, "JoinRound", rid)
    assert not reply.request.accept and check in reply.request.reason
    assert run.aggregator.rounds.store.releases(rid) == {}
    for p in run.nodes:
        assert charged(run, p, rid) == [], p


# ---- 1-3. replays -------------------------------------------------------------------------

def test_a_replayed_join_task_of_a_completed_round_is_refused(fed, done_round: str) -> None:
    run, hostile = fed
    rid = done_round
    (task,) = hostile.tasks("ggd", "join", rid)
    before, entries, mark = sent(hostile, "ggd", rid), charged(run, "ggd", rid), len(hostile.calls)
    hostile.replay("ggd", task)
    line = refusal(run, "ggd", rid, "JoinTask")
    assert "[WI620]" in line.detail and "joined it before" in line.detail
    settle(hostile, "ggd", rid, mark)
    assert sent(hostile, "ggd", rid) == before + ["JoinRound"]
    replies = hostile.calls_from("ggd", "JoinRound", rid)
    assert [r.request.accept for r in replies] == [True, False]  # no second accept
    assert "[WI620]" in replies[-1].request.reason
    assert charged(run, "ggd", rid) == entries
    one_release_each(run, rid)


@pytest.mark.parametrize("party, kind, step", [("gemeente", "seal", "SealTask"), ("ggd", "aggregate", "AggregateTask")])
def test_a_replayed_seal_or_aggregate_task_of_a_completed_round_is_refused(fed, done_round: str, party: str,
                                                                           kind: str, step: str) -> None:
    run, hostile = fed
    rid = done_round
    (task,) = hostile.tasks(party, kind, rid)
    before, entries, mark = sent(hostile, party, rid), charged(run, party, rid), len(hostile.calls)
    release = run.aggregator.rounds.store.releases(rid)[party]
    hostile.replay(party, task)
    line = refusal(run, party, rid, step)
    assert "[WI620]" in line.detail and "already released" in line.detail
    settle(hostile, party, rid, mark)
    assert sent(hostile, party, rid) == before + ["ReportFailure"]  # no relay fetched or uploaded, no release
    assert charged(run, party, rid) == entries
    assert run.aggregator.rounds.store.releases(rid)[party] == release
    one_release_each(run, rid)


def test_a_join_task_replayed_after_a_restart_is_refused(fed, done_round: str) -> None:
    run, hostile = fed
    rid = done_round
    (task,) = hostile.tasks("school", "join", rid)
    entries, mark = charged(run, "school", rid), len(hostile.calls)
    names = list(run.nodes)
    old, thread = run.nodes["school"], run.threads[names.index("school")]
    old.stop()
    thread.join(timeout=30)
    assert not thread.is_alive()
    old.ledger.close()  # the node process is gone; only its ledger file stays
    cfg = load_node_config(run.fed.node_configs["school"])
    new = Node(type(cfg)(**{**cfg.__dict__, "aggregator": run.fed.address}))  # the same config, the same ledger file
    assert new.rounds == {} and new.ledger.round_state(rid) == "released"
    hostile.replay("school", task)
    run.nodes["school"] = new
    run.threads[names.index("school")] = t = threading.Thread(target=new.run, name="node-school-2", daemon=True)
    t.start()
    line = refusal(run, "school", rid, "JoinTask")
    assert "[WI620]" in line.detail and "joined it before" in line.detail
    settle(hostile, "school", rid, mark)
    assert [r.request.accept for r in hostile.calls_from("school", "JoinRound", rid)] == [True, False]
    assert charged(run, "school", rid) == entries
    one_release_each(run, rid)


# ---- 4-6. the round's parameters at join --------------------------------------------------

LAYOUTS: dict[str, Callable[[pb.Task], pb.Task]] = {
    "slot_bits": lambda t: with_layout(t, slot_bits=t.join.layout.slot_bits // 2),
    "slots_per_ciphertext": lambda t: with_layout(t, slots_per_ciphertext=t.join.layout.slots_per_ciphertext + 1),
    "fake_leading_cells": lambda t: with_layout(t, n_cells=t.join.layout.n_cells + 3),
}


@pytest.mark.parametrize("party", ["ggd", "gemeente"])
@pytest.mark.parametrize("change", sorted(LAYOUTS))
def test_a_substituted_layout_is_refused_at_join(fed, change: str, party: str) -> None:
    run, hostile = fed
    rid = f"hx-layout-{change.replace('_', '-')}-{party}"
    hostile.rewrite("join", party, rid, LAYOUTS[change])
    reason = failed_round(run, rid)
    join_refused(run, hostile, party, rid, reason, "packing layout")
    (task,) = hostile.tasks(party, "join", rid)
    assert LAYOUTS[change](task).join.layout != task.join.layout


def _swap_first_two_areas(cells: list[pb.Cell]) -> list[pb.Cell]:
    bands = len({c.age_band for c in cells})
    return cells[bands:2 * bands] + cells[:bands] + cells[2 * bands:]


def _add_an_area(cells: list[pb.Cell]) -> list[pb.Cell]:
    bands = sorted({c.age_band for c in cells}, key=[c.age_band for c in cells].index)
    return [pb.Cell(area_code="WK019399", area_name="Nergenshuizen", age_band=b) for b in bands] + cells


CELLS: dict[str, Callable[[list[pb.Cell]], list[pb.Cell]]] = {
    "reordered": _swap_first_two_areas,
    "one_dropped": lambda cells: cells[:-1],
    "one_added": lambda cells: cells + [copy(cells[0])],
    "an_area_added": _add_an_area,  # area x band still complete: only the signed digest tells
}


@pytest.mark.parametrize("change", sorted(CELLS))
def test_substituted_cells_are_refused_at_join(fed, change: str) -> None:
    run, hostile = fed
    rid = f"hx-cells-{change.replace('_', '-')}"
    hostile.rewrite("join", "ggd", rid, lambda t: with_cells(t, CELLS[change](list(t.join.cells))))
    reason = failed_round(run, rid)
    join_refused(run, hostile, "ggd", rid, reason, "cells_sha256")


def test_a_512_bit_key_is_refused_even_with_the_test_switch(fed) -> None:
    run, hostile = fed
    assert run.nodes["ggd"].config.test_only_small_keys
    small = generate_keypair(512).public_key.to_bytes()
    rid = "hx-key-512"
    hostile.rewrite("join", "ggd", rid, lambda t: with_key(t, small))
    reason = failed_round(run, rid)
    join_refused(run, hostile, "ggd", rid, reason, "modulus has 512 bits; this node requires at least 1024")


def test_a_1024_bit_key_is_refused_by_a_node_without_the_test_switch(tmp_path: Path, small_federation,
                                                                     geography) -> None:
    def production_ggd(fed) -> None:  # type: ignore[no-untyped-def]
        cfg = fed.node_configs["ggd"]
        text = cfg.read_text()
        assert "test_only_small_keys = true\n" in text
        cfg.write_text(text.replace("test_only_small_keys = true\n", ""))

    hostile = HostileAggregator()  # it only watches: the aggregator's own (1024-bit test) key is the attack
    run = start_federation(tmp_path / "fed", small_federation, geography, tweak=production_ggd,
                           interceptors=(hostile,))
    try:
        assert not run.nodes["ggd"].config.test_only_small_keys and run.nodes["school"].config.test_only_small_keys
        rid = "hx-key-1024-production"
        reason = failed_round(run, rid)
        join_refused(run, hostile, "ggd", rid, reason, "modulus has 1024 bits; this node requires at least 2048")
        assert run.nodes["ggd"].ledger.entries() == []
    finally:
        run.stop()


def test_another_key_for_the_spine_than_for_the_sources_fails_the_round(fed) -> None:
    """The spine computes another round binding than the sources: it cannot verify their envelope
    keys (signed under theirs), so it refuses before it seals anything; nobody releases."""
    run, hostile = fed
    other = generate_keypair(1024).public_key.to_bytes()
    rid = "hx-key-split"
    hostile.rewrite("join", "gemeente", rid, lambda t: with_key(t, other))
    reason = failed_round(run, rid)
    assert "node gemeente" in reason and "under this round's parameters" in reason, reason
    line = refusal(run, "gemeente", rid, "SealTask")
    assert "envelope key of" in line.detail and "under this round's parameters" in line.detail
    released_nothing(run, hostile, "gemeente", rid)
    assert run.aggregator.rounds.store.releases(rid) == {}
    for p in run.nodes:
        assert charged(run, p, rid) == [], p
    for s in SOURCES:  # the sources joined under the real key, were never asked to open anything, released nothing
        assert run.nodes[s].ledger.round_state(rid) == "joined"
        assert sent(hostile, s, rid) == ["JoinRound"]


# ---- 7-8. the relay ----------------------------------------------------------------------

def _relay_of_round(rid_a: str, *, relabel: bool, only_second: bool = False):  # type: ignore[no-untyped-def]
    def serve(hostile: HostileAggregator, party: str, rid: str, chunks: list[pb.RelayChunk]) -> list[pb.RelayChunk]:
        old = hostile.chunks(party, rid_a)
        old = [relabelled(c, round_id=rid) if relabel else c for c in old]
        return [chunks[0], old[1]] if only_second else old
    return serve


def _school_relay_to_ggd(run: Running):  # type: ignore[no-untyped-def]
    def serve(hostile: HostileAggregator, party: str, rid: str, chunks: list[pb.RelayChunk]) -> list[pb.RelayChunk]:
        return [pb.RelayChunk(round_id=rid, recipient=party, seq=seq, total=total, envelope=env, sender=sender)
                for sender, seq, total, env in run.aggregator.rounds.store.relay_for(rid, "school")]
    return serve


SWAPS = {
    "round_a_as_recorded": (" is misrouted", lambda run, a: _relay_of_round(a, relabel=False)),
    "round_a_relabelled": ("envelope signature does not verify", lambda run, a: _relay_of_round(a, relabel=True)),
    "one_chunk_of_round_a": ("envelope signature does not verify",
                             lambda run, a: _relay_of_round(a, relabel=True, only_second=True)),
    "school_relay_relabelled": ("envelope signature does not verify", lambda run, a: _school_relay_to_ggd(run)),
}


@pytest.mark.parametrize("swap", sorted(SWAPS))
def test_relay_chunks_of_another_round_or_recipient_are_refused(fed, done_round: str, swap: str) -> None:
    run, hostile = fed
    rid = f"hx-swap-{swap.replace('_', '-')}"
    check, make = SWAPS[swap]
    serve = make(run, done_round)
    hostile.on_relay = lambda party, r, chunks: serve(hostile, party, r, chunks) if (party, r) == ("ggd", rid) \
        else chunks
    reason = failed_round(run, rid)
    assert "node ggd" in reason and check in reason, reason
    assert check in refusal(run, "ggd", rid, "AggregateTask").detail
    released_nothing(run, hostile, "ggd", rid)
    assert run.aggregator.rounds.store.index(rid) is None


RELAY_FAULTS: dict[str, tuple[str | None, Callable[[list[pb.RelayChunk]], list[pb.RelayChunk]]]] = {
    "reordered": (None, lambda cs: cs[::-1]),
    "one_dropped": ("incomplete (lost chunks)", lambda cs: cs[1:]),
    "one_repeated": ("repeat", lambda cs: cs[:1] + cs),  # "is repeated" when it comes, else "repeats a chunk"
}


@pytest.mark.parametrize("fault", sorted(RELAY_FAULTS))
def test_reordered_chunks_are_fine_but_a_dropped_or_repeated_chunk_is_refused(fed, fault: str) -> None:
    run, hostile = fed
    rid = f"hx-relay-{fault.replace('_', '-')}"
    check, alter = RELAY_FAULTS[fault]
    hostile.on_relay = lambda party, r, chunks: alter(chunks) if (party, r) == ("ggd", rid) else chunks
    if check is None:  # the order of chunks is no attack: completeness is what is checked
        _, status = run.run_round(run.spec(epsilon=1.0, round_id=rid), timeout=120)
        assert getattr(status, "state") == "completed"
        assert [c.seq for c in alter(hostile.chunks("ggd", rid))] == [1, 0]
        one_release_each(run, rid)
        return
    reason = failed_round(run, rid)
    assert "node ggd" in reason and check in reason, reason
    assert check in refusal(run, "ggd", rid, "AggregateTask").detail
    released_nothing(run, hostile, "ggd", rid)


# ---- 9-10. peers ---------------------------------------------------------------------------

def _cert(run: Running, party: str) -> bytes:
    return (run.fed.pki_dir / party / "cert.pem").read_bytes()


PEERS: dict[str, tuple[str, Callable[[Running, pb.Task], pb.Task]]] = {
    "ggd_copied_as_school2": ("the signed spec names", lambda run, t: with_recipients(
        t, [*t.seal.recipients, recipient(t, "ggd", party="school2")])),
    "researcher_added": ("the signed spec names", lambda run, t: with_recipients(
        t, [*t.seal.recipients, recipient(t, "ggd", party="researcher", certificate_pem=_cert(run, "researcher"))])),
    "school_dropped": ("the signed spec names", lambda run, t: with_recipients(
        t, [r for r in t.seal.recipients if r.party != "school"])),
    "ggd_repeated": ("the signed spec names", lambda run, t: with_recipients(
        t, [*t.seal.recipients, recipient(t, "ggd")])),
    "researcher_certificate_for_ggd": ("expected urn:wijkindex:node:ggd", lambda run, t: with_recipients(
        t, [recipient(t, "ggd", certificate_pem=_cert(run, "researcher")), recipient(t, "school")])),
    "school_certificate_for_ggd": ("expected urn:wijkindex:node:ggd", lambda run, t: with_recipients(
        t, [recipient(t, "ggd", certificate_pem=recipient(t, "school").certificate_pem), recipient(t, "school")])),
    "ggd_key_for_school": ("envelope key of school", lambda run, t: with_recipients(
        t, [recipient(t, "ggd"), recipient(t, "school", envelope_public_key=recipient(t, "ggd").envelope_public_key,
                                           key_signature=recipient(t, "ggd").key_signature)])),
}


@pytest.mark.parametrize("change", sorted(PEERS))
def test_a_seal_task_naming_peers_not_in_the_spec_is_refused(fed, change: str) -> None:
    run, hostile = fed
    rid = f"hx-peers-{change.replace('_', '-')}"
    check, alter = PEERS[change]
    hostile.rewrite("seal", "gemeente", rid, lambda t: alter(run, t))
    reason = failed_round(run, rid)
    assert "node gemeente" in reason and check in reason, reason
    assert check in refusal(run, "gemeente", rid, "SealTask").detail
    released_nothing(run, hostile, "gemeente", rid)
    assert hostile.calls_from("gemeente", "UploadRelay", rid) == []
    assert run.aggregator.rounds.store.releases(rid) == {}


AGGREGATE_PEERS: dict[str, tuple[str, Callable[[Running, pb.Task], pb.Task]]] = {
    "school_added_as_sender": ("the signed spec names", lambda run, t: _with_senders(
        t, [*t.aggregate.senders, pb.Recipient(party="school", certificate_pem=_cert(run, "school"))])),
    "school_as_spine": ("as the spine", lambda run, t: _with_spine(t, "school")),
    "school_certificate_for_the_spine": ("expected urn:wijkindex:node:gemeente", lambda run, t: _with_senders(
        t, [pb.Recipient(party="gemeente", certificate_pem=_cert(run, "school"))])),
}


def _with_senders(task: pb.Task, senders: list[pb.Recipient]) -> pb.Task:
    out = copy(task)
    del out.aggregate.senders[:]
    out.aggregate.senders.extend(senders)
    return out


def _with_spine(task: pb.Task, party: str) -> pb.Task:
    out = copy(task)
    out.aggregate.spine_party = party
    return out


@pytest.mark.parametrize("change", sorted(AGGREGATE_PEERS))
def test_an_aggregate_task_naming_peers_not_in_the_spec_is_refused(fed, change: str) -> None:
    run, hostile = fed
    rid = f"hx-senders-{change.replace('_', '-')}"
    check, alter = AGGREGATE_PEERS[change]
    hostile.rewrite("aggregate", "ggd", rid, lambda t: alter(run, t))
    reason = failed_round(run, rid)
    assert "node ggd" in reason and check in reason, reason
    assert check in refusal(run, "ggd", rid, "AggregateTask").detail
    released_nothing(run, hostile, "ggd", rid)


@pytest.mark.parametrize("taken", ["recipient_entry", "key_signature"])
def test_an_envelope_key_signed_for_another_round_is_refused(fed, done_round: str, taken: str) -> None:
    run, hostile = fed
    rid = f"hx-old-key-{taken.replace('_', '-')}"
    (old_task,) = hostile.tasks("gemeente", "seal", done_round)
    old = recipient(old_task, "ggd")

    def alter(t: pb.Task) -> pb.Task:
        ggd = old if taken == "recipient_entry" else recipient(t, "ggd", key_signature=old.key_signature)
        return with_recipients(t, [ggd if r.party == "ggd" else r for r in t.seal.recipients])

    hostile.rewrite("seal", "gemeente", rid, alter)
    reason = failed_round(run, rid)
    check = f"envelope key of ggd for round {rid} is not signed by its certificate under this round's parameters"
    assert "node gemeente" in reason and check in reason, reason
    assert check in refusal(run, "gemeente", rid, "SealTask").detail
    released_nothing(run, hostile, "gemeente", rid)
    assert hostile.calls_from("gemeente", "UploadRelay", rid) == []
    assert run.aggregator.rounds.store.releases(rid) == {}


# ---- a task that does not fit the node's role --------------------------------------------

@pytest.mark.parametrize("party", ["ggd", "gemeente"])
def test_a_task_that_does_not_fit_the_nodes_role_is_refused(tmp_path: Path, small_federation, geography,
                                                            party: str) -> None:
    hostile = HostileAggregator()
    run = start_federation(tmp_path / "fed", small_federation, geography, interceptors=(hostile,))
    rid = f"hx-role-{party}"
    if party == "ggd":  # a source is asked to seal, instead of to aggregate
        hostile.rewrite("aggregate", "ggd", rid, lambda t: pb.Task(seal=pb.SealTask(round_id=rid)))
        step = "SealTask"
    else:  # the spine is asked to aggregate, naming its real recipients as next hops
        hostile.rewrite("seal", "gemeente", rid, lambda t: pb.Task(aggregate=pb.AggregateTask(
            round_id=rid, spine_party="gemeente", forward_to=list(t.seal.recipients))))
        step = "AggregateTask"
    thread = run.threads[list(run.nodes).index(party)]
    try:
        with run.client("coordinator") as c:
            c.submit_round(run.spec(epsilon=1.0, round_id=rid))
        def ended() -> AuditLine | bool | None:
            return not thread.is_alive() or next((a for a in run.nodes[party].ledger.audit_lines(rid)
                                                  if a.step == step), None)
        wait_for(ended, what=f"{party} to end its {step}")
        assert thread.is_alive(), f"node {party}'s poll loop died on a {step}"
        line = next(a for a in run.nodes[party].ledger.audit_lines(rid) if a.step == step)
        assert line.outcome == "refused" and "spine" in line.detail, line
        released_nothing(run, hostile, party, rid)
    finally:
        run.stop()
