"""Round specs are signed by the coordinator; the aggregator and every node check the signature,
so neither an unsigned spec nor one the aggregator altered is ever acted on."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from conftest import Running
from wijkindex.errors import CertificateError, CryptoError, RoundFailed
from wijkindex.proto import wijkindex_pb2 as pb
from wijkindex.proto import wijkindex_pb2_grpc as rpc
from wijkindex.protocol.spec import RoundSpec
from wijkindex.security.pki import init_pki, load_private_key
from wijkindex.security.signing import sign_spec, verify_spec
from wijkindex.security.tls import secure_channel

SPEC = RoundSpec.from_mapping({
    "version": 1, "period": 2014, "gemeente": "GM0193", "spine": "gemeente", "round_id": "signed-1",
    "nodes": {"gemeente": {"privacy_loss": 1.0, "indicators": ["eenoudergezin"]}}}).to_toml()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki") / "pki"
    init_pki(d)
    return d


def _key(pki: Path, party: str):  # type: ignore[no-untyped-def]
    return load_private_key(pki / party / "key.pem")


def test_a_coordinators_signature_verifies(pki: Path) -> None:
    sig = sign_spec(SPEC, _key(pki, "coordinator"))
    who = verify_spec(SPEC, sig, (pki / "coordinator" / "cert.pem").read_bytes(), (pki / "ca.pem").read_bytes())
    assert who.role == "coordinator"


def test_altered_unsigned_or_wrongly_signed_specs_are_refused(pki: Path, tmp_path: Path) -> None:
    ca = (pki / "ca.pem").read_bytes()
    cert = (pki / "coordinator" / "cert.pem").read_bytes()
    sig = sign_spec(SPEC, _key(pki, "coordinator"))
    with pytest.raises(CryptoError, match="altered"):
        verify_spec(SPEC.replace("privacy_loss = 1.0", "privacy_loss = 9.0"), sig, cert, ca)
    with pytest.raises(CryptoError, match="no coordinator signature"):
        verify_spec(SPEC, b"", cert, ca)
    researcher_sig = sign_spec(SPEC, _key(pki, "researcher"))
    with pytest.raises(CertificateError, match="not by a coordinator"):
        verify_spec(SPEC, researcher_sig, (pki / "researcher" / "cert.pem").read_bytes(), ca)
    other = tmp_path / "other"
    init_pki(other)  # a coordinator of another federation
    with pytest.raises(CertificateError, match="federation CA"):
        verify_spec(SPEC, sign_spec(SPEC, _key(other, "coordinator")), (other / "coordinator" / "cert.pem").read_bytes(),
                    ca)


def test_the_aggregator_refuses_an_unsigned_spec_and_audits_it(running: Running) -> None:
    spec = running.spec(epsilon=1.0, round_id="unsigned-1")
    with secure_channel(running.fed.address, running.fed.credentials("coordinator")) as channel:
        with pytest.raises(grpc.RpcError) as err:
            rpc.CoordinatorStub(channel).SubmitRound(pb.SubmitRoundRequest(spec_toml=spec), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "spec_signature" in (err.value.details() or "")
    store = running.aggregator.rounds.store
    assert store.get_round("unsigned-1") is None
    assert any(a.action == "SubmitRound" and a.outcome == "refused" and "signature" in a.detail
               for a in store.audit_log())


def test_nodes_refuse_a_spec_the_aggregator_altered(running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    """An aggregator that skips its own check and raises the privacy loss after signing: every
    node refuses to join, the round fails with the reason, and no ledger is charged."""
    import wijkindex.aggregator.rounds as rounds_mod
    from wijkindex.security.pki import identity_from_certificate

    from wijkindex.protocol.parameters import cells_digest

    spec = RoundSpec.from_toml(running.spec(epsilon=1.0, round_id="altered-1"))
    with running.client("coordinator") as c:
        signed = spec.with_cells(cells_digest(c.propose_cells(spec.to_toml()))).to_toml()
    signature = sign_spec(signed, _key(running.fed.pki_dir, "coordinator"))
    altered = signed.replace("privacy_loss = 1.0", "privacy_loss = 5.0")
    assert altered != signed
    cert = (running.fed.pki_dir / "coordinator" / "cert.pem").read_bytes()
    monkeypatch.setattr(rounds_mod, "verify_spec", lambda *a, **k: identity_from_certificate(cert))
    running.aggregator.rounds.submit(altered, "coordinator", signature, cert)
    with running.client("coordinator") as c, pytest.raises(RoundFailed, match="refused.*altered"):
        c.wait_round("altered-1", timeout=120)
    for node in running.nodes.values():
        assert not [e for e in node.ledger.entries() if e.round_id == "altered-1"]


@pytest.mark.parametrize("changes, why", [
    ({"min_cell_size": 2}, "below this federation's floor"),
    ({"level": "buurt"}, "fewer than 5 children by CBS figures"),  # Zwolle has buurten with a handful of children
    ({"age_bands": ["0-0", "1-17"]}, "fewer than 5 children"),       # a one-year band in a small wijk
])
def test_specs_that_could_single_out_a_child_are_refused(running: Running, changes: dict, why: str) -> None:
    import tomllib

    import tomli_w

    raw = tomllib.loads(running.spec(epsilon=1.0, round_id=f"isolate-{abs(hash(str(changes))) % 10**6}"))
    raw.update(changes)
    with running.client("coordinator") as c, pytest.raises(Exception, match=why):
        c.submit_round(tomli_w.dumps(raw))
    store = running.aggregator.rounds.store
    assert store.get_round(raw["round_id"]) is None  # nothing created, no node asked, no budget spent
    assert any(a.outcome == "refused" and why.split()[0] in a.detail for a in store.audit_log(raw["round_id"]))


def test_a_node_refuses_a_spec_signed_with_a_revoked_certificate(running: Running, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from wijkindex.security.revocation import RevocationList, revoke

    pki = running.fed.pki_dir
    crl = revoke(pki, pki / "coordinator" / "cert.pem", tmp_path / "crl.pem")
    ggd = running.nodes["ggd"]
    import dataclasses

    monkeypatch.setattr(ggd, "party", dataclasses.replace(ggd.party, revoked=RevocationList(
        crl, (pki / "ca.pem").read_bytes())))
    with running.client("coordinator") as c:
        rid = c.submit_round(running.spec(epsilon=1.0, round_id="revoked-coordinator-1"))
        with pytest.raises(RoundFailed, match="coordinator is revoked"):
            c.wait_round(rid, timeout=120)
    assert not [e for e in ggd.ledger.entries() if e.round_id == rid]


def test_an_oversized_message_is_refused_by_the_aggregator(running: Running) -> None:
    """A sender that ignores the limit (64 MiB): the aggregator refuses the message unread."""
    from wijkindex.security.tls import MAX_MESSAGE, channel_credentials

    creds = running.fed.credentials("coordinator")
    options = [("grpc.max_send_message_length", 2 * MAX_MESSAGE)]
    with grpc.secure_channel(running.fed.address, channel_credentials(creds), options=options) as channel:
        with pytest.raises(grpc.RpcError) as err:
            rpc.CoordinatorStub(channel).SubmitRound(
                pb.SubmitRoundRequest(spec_toml="#" * (MAX_MESSAGE + 1024)), timeout=60)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err.value
    # and it still serves everyone else
    with running.client("researcher") as r:
        r.list_rounds()
