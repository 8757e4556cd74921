"""Keyed pseudonyms: HMAC-SHA256 under a per-round key derived (HKDF) from the linkage secret.

Key bytes never leave this module: callers hold ``LinkageSecret`` / ``RoundKey`` objects.
Without the secret a 9-digit BSN space cannot be brute-forced; pseudonyms of two rounds
cannot be linked to each other.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path
from typing import Sequence

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from wijkindex.errors import ConfigError

SECRET_BYTES = 32
SECRET_HEADER = "wijkindex-linkage-secret v1"
_SALT = b"wijkindex/v1/round-key"
_HEX = re.compile(r"[0-9a-fA-F]{64}")
_MAX_FILE = 256  # a secret file is 93 bytes; anything much larger is not one (and is not read whole)


class SecretFileError(ConfigError, ValueError):
    """The linkage secret file is missing, unreadable or not in the wijkindex format. The message
    names the file and what is wrong, never any of its content."""

    code = "WI220"
    summary = "the linkage secret file is not in the wijkindex format"
    fix = ("make a secret with `wijkindex secret new PATH` (all holders need the same file); the format is the "
           f"line `{SECRET_HEADER}` then the 64 hex digits of 32 random bytes")


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
        """Read a secret file: exactly the line ``wijkindex-linkage-secret v1``, then the hex of
        exactly 32 bytes, optionally a final newline. Anything else is a :class:`SecretFileError`
        that names the file and the problem but quotes none of the file."""
        path = Path(path)
        try:
            with open(path, "rb") as f:
                data = f.read(_MAX_FILE + 1)
        except OSError as exc:
            raise SecretFileError(f"{path}: cannot read the linkage secret ({exc.strerror or type(exc).__name__})") from None
        if len(data) > _MAX_FILE:
            raise SecretFileError(f"{path}: more than {_MAX_FILE} bytes; not a wijkindex linkage secret file")
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            raise SecretFileError(f"{path}: not text (a raw-bytes secret?); not a wijkindex linkage secret file") from None
        if "\r" in text:
            raise SecretFileError(f"{path}: has Windows (CRLF) line endings; a linkage secret file has LF only")
        body = text[:-1] if text.endswith("\n") else text
        lines = body.split("\n")
        if lines[0] != SECRET_HEADER:
            if len(lines) == 1 and _HEX.fullmatch(lines[0]):
                raise SecretFileError(
                    f"{path}: a bare hex secret without the header line (the format before v1)",
                    fix=f"put the line `{SECRET_HEADER}` above the hex (the secret and its fingerprint stay the same), "
                        "or make a new secret with `wijkindex secret new PATH` and give it to every holder")
            raise SecretFileError(f"{path}: the first line is not `{SECRET_HEADER}`; not a wijkindex linkage secret "
                                  "file")
        if len(lines) < 2:
            raise SecretFileError(f"{path}: the header line is not followed by the secret")
        if len(lines) > 2:
            raise SecretFileError(f"{path}: {len(lines) - 2} line(s) after the secret; the file must end after it")
        if not _HEX.fullmatch(lines[1]):
            what = (f"{len(lines[1])} characters" if all(c in "0123456789abcdefABCDEF" for c in lines[1])
                    else "characters that are not hex digits")
            raise SecretFileError(f"{path}: line 2 must be the hex of exactly {SECRET_BYTES} bytes "
                                  f"({2 * SECRET_BYTES} hex digits); it has {what}")
        return cls(bytes.fromhex(lines[1]))

    def write(self, path: Path | str) -> None:
        """Write the v1 format (header line, hex, newline), mode 0600; never overwrite an existing secret."""
        if len(self._key) != SECRET_BYTES:
            raise ValueError(f"only a secret of exactly {SECRET_BYTES} bytes can be written to a secret file")
        fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"{SECRET_HEADER}\n{self._key.hex()}\n")

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
