"""End-to-end envelopes for payloads relayed through the (untrusted) aggregator.

A fresh X25519 key per envelope, ECDH with the recipient's per-round X25519 key,
HKDF-SHA256 to an AES-256-GCM key, the context as associated data; then the sender signs
the whole envelope with its certificate key (ECDSA P-256), so the aggregator can neither
read, alter, re-route nor forge a payload. (This is our own construction in the manner of
HPKE's base mode plus a sender signature, not RFC 9180 HPKE.)

Wire format: version (2) | ephemeral public key (32) | nonce (12) |
             ciphertext length (4, big-endian) | ciphertext+tag | signature r || s (64).
The signature covers everything before it plus the context. It has a fixed length (not
DER), so an envelope's size is a function of its plaintext's size alone.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from wijkindex.errors import CryptoError

VERSION = 2
_SIG = 64  # ECDSA P-256 r || s, 32 bytes each
_SALT = b"wijkindex/v1/envelope"
_HEADER = 1 + 32 + 12 + 4


def _raw(public_key: X25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class EnvelopeKeyPair:
    """A node's X25519 key for one round; the private half never leaves this object."""

    def __init__(self, private_key: X25519PrivateKey) -> None:
        self._private = private_key

    @classmethod
    def generate(cls) -> "EnvelopeKeyPair":
        return cls(X25519PrivateKey.generate())

    def public_bytes(self) -> bytes:
        return _raw(self._private.public_key())

    def __repr__(self) -> str:
        return f"EnvelopeKeyPair(public={self.public_bytes().hex()[:16]}...)"


def _aead_key(shared: bytes, context: bytes, eph_pub: bytes, rcpt_pub: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=context + eph_pub + rcpt_pub).derive(shared)
    return AESGCM(key)


def seal_envelope(plaintext: bytes, *, recipient_public: bytes, sender_key: ec.EllipticCurvePrivateKey,
                  context: bytes) -> bytes:
    try:
        rcpt = X25519PublicKey.from_public_bytes(recipient_public)
    except ValueError:
        raise CryptoError("recipient envelope key is not a 32-byte X25519 key") from None
    eph = X25519PrivateKey.generate()
    eph_pub = _raw(eph.public_key())
    nonce = os.urandom(12)
    ct = _aead_key(eph.exchange(rcpt), context, eph_pub, recipient_public).encrypt(nonce, plaintext, context)
    body = bytes([VERSION]) + eph_pub + nonce + struct.pack(">I", len(ct)) + ct
    r, s = decode_dss_signature(sender_key.sign(body + context, ec.ECDSA(hashes.SHA256())))
    return body + r.to_bytes(32, "big") + s.to_bytes(32, "big")


def open_envelope(envelope: bytes, *, recipient: EnvelopeKeyPair, sender_public_key: ec.EllipticCurvePublicKey,
                  context: bytes) -> bytes:
    """Verify the sender's signature, then decrypt; any failure is a CryptoError."""
    if len(envelope) < _HEADER + 16 or envelope[0] != VERSION:
        raise CryptoError("envelope truncated or of an unknown version")
    (length,) = struct.unpack(">I", envelope[45:49])
    end = _HEADER + length
    if end + _SIG != len(envelope):
        raise CryptoError("envelope truncated or padded")
    body, raw = envelope[:end], envelope[end:]
    signature = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        sender_public_key.verify(signature, body + context, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        raise CryptoError("envelope signature does not verify: altered, misrouted or not from the sender") from None
    eph_pub, nonce, ct = body[1:33], body[33:45], body[_HEADER:]
    try:
        shared = recipient._private.exchange(X25519PublicKey.from_public_bytes(eph_pub))
        return _aead_key(shared, context, eph_pub, recipient.public_bytes()).decrypt(nonce, ct, context)
    except (InvalidTag, ValueError):
        raise CryptoError("envelope does not open with this key and context") from None


def _key_statement(public: bytes, round_id: str, party: str, binding: bytes) -> bytes:
    return (b"wijkindex/v1/envelope-key|" + round_id.encode() + b"|" + party.encode() + b"|" + binding.hex().encode()
            + b"|" + public)


def sign_envelope_key(public: bytes, *, round_id: str, party: str, signer: ec.EllipticCurvePrivateKey,
                      binding: bytes = b"") -> bytes:
    """Bind a per-round envelope key to the party's certificate key and the round's parameters
    (``protocol.parameters.round_binding``): a key signed under other parameters does not verify."""
    return signer.sign(_key_statement(public, round_id, party, binding), ec.ECDSA(hashes.SHA256()))


def verify_envelope_key(public: bytes, signature: bytes, *, round_id: str, party: str,
                        signer_public_key: ec.EllipticCurvePublicKey, binding: bytes = b"") -> None:
    if len(public) != 32:
        raise CryptoError(f"envelope key of {party} is not 32 bytes")
    try:
        signer_public_key.verify(signature, _key_statement(public, round_id, party, binding),
                                 ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        raise CryptoError(f"envelope key of {party} for round {round_id} is not signed by its certificate "
                          "under this round's parameters") from None
