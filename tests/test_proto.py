"""The .proto is the contract: committed stubs are current, and wire conversion round-trips."""

from __future__ import annotations

from wijkindex import wire
from wijkindex.proto.generate import stale_outputs
from wijkindex.protocol import messages as m


def test_committed_stubs_match_the_proto() -> None:
    assert stale_outputs() == [], "run `python -m wijkindex.proto.generate` and commit the stubs"


def test_tasks_round_trip() -> None:
    tasks = [
        m.JoinTask("r1", "version = 1", b"\x01\x02", m.Layout(48, 40, 51), (m.Cell("WK019310", "Binnenstad", "0-3"),
                                                                         m.Cell("WK019311", "D", "0-3", ("WK019399",)))),
        m.SealTask("r1", (m.Recipient("ggd", b"k" * 32, b"sig", b"pem"),)),
        m.AggregateTask("r1", "gemeente", b"pem"),
    ]
    for t in tasks:
        assert wire.task_from_proto(wire.task_to_proto(t, "t")) == t
    assert wire.task_from_proto(wire.task_to_proto(None)) is None


def test_release_round_trip() -> None:
    cost = m.PrivacyCost("ggd", 1.0, "discrete_laplace", 3, 3.0, ("jgz",))
    rel = m.NodeRelease("r1", (m.ReleasedVector("population", clear=(1, -2, 3)),
                               m.ReleasedVector("x", sealed=(b"a", b"b"), noise_terms=1)), cost)
    assert wire.release_from_proto(wire.release_to_proto(rel)) == rel
    status = m.RoundStatus("r1", "completed", "", (m.NodeState("ggd", "released", "d"),), (cost,), "a", "b", 1.0)
    assert wire.status_from_proto(wire.status_to_proto(status)) == status
