"""Checking a peer certificate that arrives inside a message (relayed by the aggregator).

A node relies on certificates the aggregator hands it: the coordinator's (the spec's
signer), a recipient's (whose envelope key it will encrypt to), a sender's (whose
envelopes it will open). Each must chain to the federation CA, be valid now, name the
expected role and party, and not be on the CRL; this is the one function that says so.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from wijkindex.errors import CertificateError
from wijkindex.security.pki import Identity, verify_party_certificate
from wijkindex.security.revocation import RevocationList


def verify_peer(certificate_pem: bytes, ca_pem: bytes, revoked: RevocationList, expected: Identity,
                what: str) -> ec.EllipticCurvePublicKey:
    """The public key of ``expected``'s certificate, or CertificateError naming ``what``."""
    if not certificate_pem:
        raise CertificateError(f"{what}: no certificate for {expected.uri}")
    try:
        verify_party_certificate(certificate_pem, ca_pem, expected=expected)
    except CertificateError as exc:
        raise CertificateError(f"{what}: {exc.message}") from None
    revoked.check(certificate_pem, what)
    key = x509.load_pem_x509_certificate(certificate_pem).public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise CertificateError(f"{what}: {expected.uri} does not hold an EC P-256 key")
    return key
