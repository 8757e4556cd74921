"""Round specs signed by the coordinator that wrote them.

The coordinator signs the exact bytes of the spec (ECDSA P-256 with its certificate key, over
a statement that names what is signed); every node verifies the signature, the coordinator's
certificate against the federation CA and its role, before it joins. So the aggregator, which
stores and relays the spec, cannot change what a node is asked for (more privacy loss, another
indicator, a smaller cell) without every node refusing.
"""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from wijkindex.errors import CertificateError, CryptoError
from wijkindex.security.pki import Identity, verify_party_certificate


def _statement(spec_toml: str) -> bytes:
    return b"wijkindex/v1/round-spec|" + hashlib.sha256(spec_toml.encode("utf-8")).digest()


def sign_spec(spec_toml: str, signer: ec.EllipticCurvePrivateKey) -> bytes:
    return signer.sign(_statement(spec_toml), ec.ECDSA(hashes.SHA256()))


def verify_spec(spec_toml: str, signature: bytes, certificate_pem: bytes, ca_pem: bytes) -> Identity:
    """The coordinator who signed ``spec_toml``; CryptoError/CertificateError if anything is off."""
    if not signature or not certificate_pem:
        raise CryptoError("the round spec carries no coordinator signature")
    identity = verify_party_certificate(certificate_pem, ca_pem)
    if identity.role != "coordinator":
        raise CertificateError(f"the round spec is signed by {identity.uri}, not by a coordinator")
    key = x509.load_pem_x509_certificate(certificate_pem).public_key()
    try:
        key.verify(signature, _statement(spec_toml), ec.ECDSA(hashes.SHA256()))  # type: ignore[call-arg, union-attr, arg-type]
    except (InvalidSignature, ValueError, TypeError):
        raise CryptoError(f"the round spec's signature does not verify against {identity.uri}'s certificate "
                          "(the spec was altered after the coordinator signed it)") from None
    return identity
