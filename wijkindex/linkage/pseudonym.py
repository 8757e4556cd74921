"""Keyed pseudonyms: HMAC-SHA256 under a per-round key derived (HKDF) from the linkage secret.

Key bytes never leave this module: callers hold ``LinkageSecret`` / ``RoundKey`` objects.
Without the secret a 9-digit BSN space cannot be brute-forced; pseudonyms of two rounds
cannot be linked to each other.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Sequence

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SECRET_BYTES = 32
_SALT = b"wijkindex/v1/round-key"


class LinkageSecret:
    """The federation linkage secret shared by the data holders (never logged, never sent)."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < SECRET_BYTES:
            raise ValueError(f"a linkage secret needs at least {SECRET_BYTES} bytes")
        self._key = bytes(key)

    @classmethod
    def generate(cls) -> "LinkageSecret":
        return cls(secrets.token_bytes(SECRET_BYTES))

    @classmethod
    def from_file(cls, path: Path | str) -> "LinkageSecret":
        """Read a secret file holding hex (64+ hex digits) or raw bytes."""
        data = Path(path).read_bytes()
        text = data.strip()
        try:
            key = bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            key = data
        if len(key) < SECRET_BYTES:
            raise ValueError(f"{path}: a linkage secret needs at least {SECRET_BYTES} bytes of entropy")
        return cls(key)

    def write(self, path: Path | str) -> None:
        """Write as hex, mode 0600; never overwrite an existing secret."""
        fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self._key.hex() + "\n")

    def fingerprint(self) -> str:
        """A short value safe to log, to check two holders have the same secret."""
        return hashlib.sha256(b"wijkindex/v1/fingerprint" + self._key).hexdigest()[:16]

    def _derive(self, info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=info).derive(self._key)

    def __repr__(self) -> str:
        return f"LinkageSecret(fingerprint={self.fingerprint()})"


class RoundKey:
    """The pseudonymisation key of one round: HKDF-SHA256(secret, salt, 'round:' + round id)."""

    __slots__ = ("_key", "round_id")

    def __init__(self, key: bytes, round_id: str) -> None:
        self._key = key
        self.round_id = round_id

    @classmethod
    def derive(cls, secret: LinkageSecret, round_id: str) -> "RoundKey":
        return cls(secret._derive(b"round:" + round_id.encode("utf-8")), round_id)

    def __repr__(self) -> str:
        return f"RoundKey(round_id={self.round_id!r})"


class Pseudonymiser:
    """HMAC-SHA256(round key, 'bsn:' + bsn) -> 32 bytes, using OpenSSL's one-shot HMAC."""

    def __init__(self, round_key: RoundKey) -> None:
        self._key = round_key._key

    def pseudonymise(self, bsn: str) -> bytes:
        return hmac.digest(self._key, b"bsn:" + bsn.encode("ascii"), "sha256")

    def pseudonymise_many(self, bsns: Sequence[str]) -> list[bytes]:
        key, digest = self._key, hmac.digest
        return [digest(key, b"bsn:" + b.encode("ascii"), "sha256") for b in bsns]


class EncodingKey:
    """The key of one round's similarity encodings: HKDF-SHA256(secret, salt, 'encoding:' + round id).

    Separate from the pseudonym key so that neither can be computed from the other; the
    encoder derives its own sub-keys (bit positions, permutation) from it.
    """

    __slots__ = ("_key", "round_id")

    def __init__(self, key: bytes, round_id: str) -> None:
        if len(key) < SECRET_BYTES:
            raise ValueError(f"an encoding key needs at least {SECRET_BYTES} bytes")
        self._key = bytes(key)
        self.round_id = round_id

    @classmethod
    def derive(cls, secret: LinkageSecret, round_id: str) -> "EncodingKey":
        return cls(secret._derive(b"encoding:" + round_id.encode("utf-8")), round_id)

    @classmethod
    def random(cls) -> "EncodingKey":
        """A throw-away key, for evaluating encodings on files that are not a round's."""
        return cls(secrets.token_bytes(SECRET_BYTES), "evaluation")

    def subkey(self, purpose: str) -> bytes:
        return hmac.digest(self._key, b"wijkindex/v1/encoding/" + purpose.encode("ascii"), "sha256")

    def __repr__(self) -> str:
        return f"EncodingKey(round_id={self.round_id!r})"
