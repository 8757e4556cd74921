"""The linkage secret file: one format (header line, hex of exactly 32 bytes), written by
`wijkindex secret new` / LinkageSecret.write; anything else is refused with an error that names
the file and the problem and never quotes the file."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from wijkindex.cli import main
from wijkindex.errors import ConfigError
from wijkindex.linkage.pseudonym import SECRET_HEADER, LinkageSecret, Pseudonymiser, RoundKey, SecretFileError

VECTORS = Path(__file__).parent / "vectors"
HEX = "0123456789abcdef"


def _refused(content: bytes) -> SecretFileError:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "linkage.key"
        path.write_bytes(content)
        with pytest.raises(SecretFileError) as err:
            LinkageSecret.from_file(path)
        assert str(path) in str(err.value)
        return err.value


def _assert_quotes_nothing(err: SecretFileError, *secrets: str) -> None:
    text = str(err) + err.fix
    for s in secrets:
        for i in range(0, max(1, len(s) - 7)):  # not the secret, nor any 8 characters of it
            assert s[i:i + 8] not in text, (s[i:i + 8], text)


def test_the_format_is_a_header_line_and_64_hex_digits(tmp_path: Path) -> None:
    kat = json.loads((VECTORS / "pseudonym_kat.json").read_text())
    path = tmp_path / "linkage.key"
    LinkageSecret(bytes.fromhex(kat["secret"])).write(path)
    assert path.read_text() == f"wijkindex-linkage-secret v1\n{kat['secret']}\n"  # known answer
    assert path.stat().st_mode & 0o777 == 0o600
    secret = LinkageSecret.from_file(path)
    case = kat["cases"][0]
    assert Pseudonymiser(RoundKey.derive(secret, case["round_id"])).pseudonymise(case["bsn"]).hex() == case["pseudonym"]
    no_newline = tmp_path / "no-newline.key"
    no_newline.write_text(f"{SECRET_HEADER}\n{kat['secret'].upper()}")  # final newline optional; hex any case
    assert LinkageSecret.from_file(no_newline).fingerprint() == secret.fingerprint()
    with pytest.raises(FileExistsError):
        secret.write(path)
    with pytest.raises(ValueError, match="exactly 32 bytes"):
        LinkageSecret(b"x" * 40).write(tmp_path / "long.key")


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_round_trip(key: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "linkage.key"
        LinkageSecret(key).write(path)
        assert LinkageSecret.from_file(path).fingerprint() == LinkageSecret(key).fingerprint()


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=HEX, min_size=64, max_size=64), st.sampled_from(["", "\n"]))
def test_bare_hex_without_the_header_is_refused(hexkey: str, end: str) -> None:
    err = _refused((hexkey + end).encode())
    assert "without the header line" in str(err) and SECRET_HEADER in err.fix
    _assert_quotes_nothing(err, hexkey)


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_32_raw_bytes_are_refused(raw: bytes) -> None:
    err = _refused(raw)
    _assert_quotes_nothing(err, raw.hex())
    if all(32 <= b < 127 for b in raw):
        _assert_quotes_nothing(err, raw.decode())


def test_a_32_character_text_file_is_refused() -> None:
    text = "correct-horse-battery-staple-42!"
    assert len(text) == 32
    err = _refused(text.encode())
    assert "first line is not" in str(err)
    _assert_quotes_nothing(err, text)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=HEX, min_size=64, max_size=64), st.data())
def test_any_damaged_file_is_refused_without_quoting_the_secret(hexkey: str, data: st.DataObject) -> None:
    good = f"{SECRET_HEADER}\n{hexkey}\n"
    damaged = data.draw(st.sampled_from([
        f"{SECRET_HEADER}\n{hexkey[:-2]}\n",              # 31 bytes
        f"{SECRET_HEADER}\n{hexkey}00\n",                 # 33 bytes
        f"{SECRET_HEADER}\n{hexkey[:-1]}g\n",             # not hex
        f"{SECRET_HEADER}\n{hexkey}\n\n",                 # a line after it
        f"{SECRET_HEADER}\n{hexkey}\nmore\n",
        f"{SECRET_HEADER} \n{hexkey}\n",                  # header not exact
        f"wijkindex-linkage-secret v2\n{hexkey}\n",
        f"{SECRET_HEADER}\r\n{hexkey}\r\n",               # CRLF
        f" {SECRET_HEADER}\n{hexkey}\n",
        f"{SECRET_HEADER}\n {hexkey}\n",
        f"{SECRET_HEADER}\n",
    ]))
    assert damaged != good
    err = _refused(damaged.encode())
    assert isinstance(err, ConfigError) and isinstance(err, ValueError) and err.code == "WI220"
    assert "wijkindex secret new" in err.fix
    _assert_quotes_nothing(err, hexkey)


def test_other_refusals_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(SecretFileError, match="absent.key: cannot read"):
        LinkageSecret.from_file(tmp_path / "absent.key")
    big = tmp_path / "big.key"
    big.write_bytes(b"0" * 10_000)
    with pytest.raises(SecretFileError, match="big.key: more than"):
        LinkageSecret.from_file(big)
    binary = tmp_path / "binary.key"
    binary.write_bytes(bytes(range(128, 192)))
    with pytest.raises(SecretFileError, match="binary.key: not text"):
        LinkageSecret.from_file(binary)


def test_secret_new_writes_the_format_the_node_reads(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "linkage.key"
    out = CliRunner().invoke(main, ["secret", "new", str(path)])
    assert out.exit_code == 0, out.output
    header, hexkey = path.read_text().splitlines()
    assert header == SECRET_HEADER and len(bytes.fromhex(hexkey)) == 32
    assert LinkageSecret.from_file(path).fingerprint() in out.output and hexkey not in out.output
