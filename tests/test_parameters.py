"""The round parameters a node derives and checks itself (protocol/parameters.py, security/peers.py)."""

from __future__ import annotations

from pathlib import Path

import gmpy2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wijkindex.errors import CertificateError, CryptoError
from wijkindex.protocol import messages as m
from wijkindex.protocol.paillier import PaillierPublicKey, generate_keypair
from wijkindex.protocol.parameters import (MIN_KEY_BITS, cells_digest, check_cells, check_layout, check_public_key,
                                           layout_for, round_binding)
from wijkindex.security.peers import verify_peer
from wijkindex.security.pki import Identity, init_pki
from wijkindex.security.revocation import RevocationList, revoke

BANDS = ["0-3", "4-11", "12-17"]
CELLS = tuple(m.Cell(f"WK0193{i:02d}", f"Wijk {i}", b) for i in range(4) for b in BANDS)
KEY = generate_keypair(1024).public_key


def test_the_cells_digest_is_a_known_answer_and_checks_every_cell() -> None:
    assert cells_digest(CELLS) == cells_digest(list(CELLS))
    assert len(cells_digest(CELLS)) == 64
    check_cells(CELLS, cells_digest(CELLS), BANDS)
    renamed = (m.Cell(CELLS[0].area_code, "Elders", CELLS[0].age_band), *CELLS[1:])
    for bad in (CELLS[::-1], CELLS[1:], renamed, (*CELLS, m.Cell("WK019399", "Nieuw", "0-3"))):
        with pytest.raises(CryptoError):
            check_cells(bad, cells_digest(CELLS), BANDS)
    with pytest.raises(CryptoError, match="no cells_sha256"):
        check_cells(CELLS, "", BANDS)
    shuffled = tuple(sorted(CELLS, key=lambda c: c.age_band))  # signed, but not area x band in order
    with pytest.raises(CryptoError, match="in order"):
        check_cells(shuffled, cells_digest(shuffled), BANDS)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=8), st.text(max_size=8)), min_size=1, max_size=6,
                unique_by=lambda t: t[0]))
def test_the_digest_changes_with_any_cell(areas: list[tuple[str, str]]) -> None:
    cells = [m.Cell(code, name, b) for code, name in areas for b in BANDS]
    changed = [*cells[:-1], m.Cell(cells[-1].area_code, cells[-1].area_name + "x", cells[-1].age_band)]
    assert cells_digest(cells) != cells_digest(changed)


def test_a_node_refuses_small_or_malformed_moduli() -> None:
    check_public_key(KEY, min_bits=1024)
    with pytest.raises(CryptoError, match=f"at least {MIN_KEY_BITS}"):
        check_public_key(KEY)
    big = int(gmpy2.next_prime(1 << 2046))
    p = int(gmpy2.next_prime(3 << 1022))
    for n, why in ((2 * big, "small factor"), (3 * big, "small factor"), (p * p, "square"),
                   (int(gmpy2.next_prime(1 << 2047)), "prime"), (int(gmpy2.next_prime(1 << 2045)), "at least")):
        with pytest.raises(CryptoError, match=why):
            check_public_key(PaillierPublicKey(n))
    with pytest.raises(CryptoError, match="whole number of bytes"):
        check_public_key(PaillierPublicKey(generate_keypair(2048).public_key.n * 5), min_bits=2048)


def test_the_layout_is_the_nodes_own() -> None:
    mine = layout_for(len(CELLS), KEY.bits, 40)
    check_layout(m.Layout(mine.n_cells, mine.slot_bits, mine.slots_per_ciphertext), mine)
    for told in (m.Layout(mine.n_cells + 1, 40, mine.slots_per_ciphertext), m.Layout(mine.n_cells, 20, 51),
                 m.Layout(mine.n_cells, 40, mine.slots_per_ciphertext - 1)):
        with pytest.raises(CryptoError, match="packing layout"):
            check_layout(told, mine)


def test_the_round_binding_covers_spec_key_layout_and_cells() -> None:
    layout = layout_for(len(CELLS), KEY.bits, 40)
    base = round_binding("spec", KEY.to_bytes(), layout, CELLS)
    other_key = generate_keypair(1024).public_key
    assert len({base, round_binding("spec ", KEY.to_bytes(), layout, CELLS),
                round_binding("spec", other_key.to_bytes(), layout, CELLS),
                round_binding("spec", KEY.to_bytes(), layout_for(len(CELLS), KEY.bits, 30), CELLS),
                round_binding("spec", KEY.to_bytes(), layout, CELLS[:-3])}) == 5


def test_a_revoked_or_misnamed_peer_is_refused(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    init_pki(pki)
    ca = (pki / "ca.pem").read_bytes()
    ggd = (pki / "ggd" / "cert.pem").read_bytes()
    empty = RevocationList(None, ca)
    assert verify_peer(ggd, ca, empty, Identity("node", "ggd"), "recipient ggd") is not None
    with pytest.raises(CertificateError, match="recipient school.*expected urn:wijkindex:node:school"):
        verify_peer(ggd, ca, empty, Identity("node", "school"), "recipient school")
    with pytest.raises(CertificateError, match="no certificate"):
        verify_peer(b"", ca, empty, Identity("node", "ggd"), "sender ggd")
    crl = revoke(pki, pki / "ggd" / "cert.pem", tmp_path / "crl.pem")
    with pytest.raises(CertificateError, match="revoked"):
        verify_peer(ggd, ca, RevocationList(crl, ca), Identity("node", "ggd"), "recipient ggd")


def test_folded_members_are_signed_and_checked() -> None:
    """A cell's members (areas folded into it) are part of the digest, and a node refuses members
    that would count a child twice, in another gemeente or level, or differ between bands."""
    def cells(members: dict[str, tuple[str, ...]], per_band: dict[tuple[str, str], tuple[str, ...]] | None = None,
              ) -> tuple[m.Cell, ...]:
        return tuple(m.Cell(f"WK0193{i:02d}", f"Wijk {i}", b,
                            (per_band or {}).get((f"WK0193{i:02d}", b), members.get(f"WK0193{i:02d}", ())))
                     for i in range(4) for b in BANDS)

    assert cells({}) == CELLS and cells_digest(cells({})) == cells_digest(CELLS)  # no members: the old digest
    folded = cells({"WK019301": ("WK019398", "WK019399")})
    check_cells(folded, cells_digest(folded), BANDS)
    assert cells_digest(folded) != cells_digest(CELLS)
    moved = cells({"WK019302": ("WK019398", "WK019399")})
    with pytest.raises(CryptoError, match="differ from the cells the coordinator signed"):
        check_cells(moved, cells_digest(folded), BANDS)  # a member moved to another area after signing
    for bad, why in [(cells({"WK019301": ("WK019399",), "WK019302": ("WK019399",)}), "also folded into"),
                     (cells({"WK019301": ("WK019302",)}), "also an area of the round"),
                     (cells({"WK019301": ("WK036399",)}), "another level or gemeente"),
                     (cells({"WK019301": ("BU01930100",)}), "another level or gemeente"),
                     (cells({"WK019301": ("WK019399",)}, {("WK019301", BANDS[1]): ()}), "different members")]:
        with pytest.raises(CryptoError, match=why):
            check_cells(bad, cells_digest(bad), BANDS)
